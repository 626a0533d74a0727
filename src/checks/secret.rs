//! A check's secrets are write-only: header values, the user part of its URL and the URL's query
//! string. Every view shows them as `***`; an update that sends `***` back (or leaves the key out)
//! keeps what is stored; and whatever a probe reports — its error, the value it observed — has
//! them replaced by `***` before it is stored, shown or logged.

use reqwest::Url;

use super::spec::{CheckSpec, FieldProblem};

/// What a secret is shown as, and what an update sends to keep one.
pub const MASK: &str = "***";

/// Secrets shorter than this are not searched for in texts: replacing every "a" would garble
/// the text and hide nothing.
const SHORTEST_SCRUBBED: usize = 3;

impl CheckSpec {
    /// The spec as shown to readers.
    pub fn redacted(&self) -> CheckSpec {
        let mut s = self.clone();
        for v in s.headers.values_mut() {
            *v = MASK.into();
        }
        s.url = s.url.as_deref().map(mask_url);
        s
    }

    /// Puts back the stored secrets that `self` (an update merged over `stored`) shows as `***`.
    pub fn keep_secrets(&mut self, stored: &CheckSpec) {
        for (name, value) in &mut self.headers {
            let old = stored.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
            if let (true, Some((_, old))) = (value == MASK, old) {
                value.clone_from(old);
            }
        }
        if let (Some(new), Some(old)) = (self.url.as_deref(), stored.url.as_deref())
            && let (Ok(mut new), Ok(old)) = (Url::parse(new), Url::parse(old))
        {
            if new.username() == MASK {
                let _ = new.set_username(old.username());
            }
            if new.password() == Some(MASK) {
                let _ = new.set_password(old.password());
            }
            if new.query() == Some(MASK) {
                new.set_query(old.query());
            }
            self.url = Some(new.to_string());
        }
    }

    /// `***` left where no secret is stored: the spec was copied from a view.
    pub(super) fn unkept_secrets(&self) -> Vec<FieldProblem> {
        let mut p = Vec::new();
        let why = || format!("`{MASK}` keeps a stored secret, and there is none here: send the value itself");
        for (name, value) in &self.headers {
            if value == MASK {
                p.push((format!("headers.{name}"), why()));
            }
        }
        if let Some(u) = self.url.as_deref().and_then(|u| Url::parse(u).ok())
            && (u.username() == MASK || u.password() == Some(MASK) || u.query() == Some(MASK))
        {
            p.push(("url".into(), why()));
        }
        p
    }

    /// Every secret value, as written and as decoded, for `scrub`.
    pub fn secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = self.headers.values().cloned().collect();
        // `Bearer <token>`, `Basic <…>`: the credential alone too, as a server may echo it.
        let words: Vec<String> = self.headers.values().flat_map(|v| v.split_whitespace().map(str::to_string)).collect();
        s.extend(words);
        if let Some(u) = self.url.as_deref().and_then(|u| Url::parse(u).ok()) {
            s.push(u.username().to_string());
            s.extend(u.password().map(str::to_string));
            if let Some(q) = u.query() {
                s.push(q.to_string());
                // Each value as written; a part without a value (`?s3cret`) is itself the secret.
                for part in q.split('&') {
                    match part.split_once('=') {
                        Some((_, v)) if !v.is_empty() => s.push(v.to_string()),
                        Some((k, _)) => s.push(k.to_string()),
                        None => s.push(part.to_string()),
                    }
                }
            }
        }
        let mut decoded: Vec<String> = s
            .iter()
            .filter_map(|x| percent_encoding::percent_decode_str(x).decode_utf8().ok().map(|d| d.into_owned()))
            .collect();
        s.append(&mut decoded);
        s.retain(|x| x.len() >= SHORTEST_SCRUBBED);
        // Longest first, so that a secret containing another is replaced whole.
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
        s.dedup();
        s
    }
}

/// `text` with every one of `secrets` replaced by `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |t, s| if t.contains(s.as_str()) { t.replace(s.as_str(), MASK) } else { t })
}

/// A URL with its user part and query shown as `***`; a URL that does not parse is all secret.
fn mask_url(url: &str) -> String {
    let Ok(mut u) = Url::parse(url) else { return MASK.into() };
    if !u.username().is_empty() {
        let _ = u.set_username(MASK);
    }
    if u.password().is_some() {
        let _ = u.set_password(Some(MASK));
    }
    if u.query().is_some() {
        u.set_query(Some(MASK));
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> CheckSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn views_show_no_header_userinfo_or_query() {
        let s = spec(serde_json::json!({
            "kind": "http", "url": "https://ops:s3cret@example.com/health?api_key=k3y&x=1",
            "headers": {"Authorization": "Bearer t0ken"}, "interval": "30s",
        }));
        let shown = serde_json::to_string(&s.redacted()).unwrap();
        for secret in ["s3cret", "k3y", "t0ken", "ops:", "x=1"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("https://***:***@example.com/health?***"), "{shown}");
        let pg = spec(
            serde_json::json!({"kind": "postgres", "url": "postgres://app:pw%40x@db:5432/app?sslmode=require", "interval": "1m"}),
        );
        assert_eq!(pg.redacted().url.as_deref(), Some("postgres://***:***@db:5432/app?***"));
    }

    #[test]
    fn an_update_that_echoes_the_mask_keeps_the_stored_secrets() {
        let stored = spec(serde_json::json!({
            "kind": "http", "url": "https://ops:s3cret@example.com/health?api_key=k3y",
            "headers": {"Authorization": "Bearer t0ken", "Accept": "text/plain"}, "interval": "30s",
        }));
        let mut updated = stored.redacted();
        updated.url = Some("https://***:***@example.com/v2/health?***".into());
        updated.headers.insert("Accept".into(), "application/json".into());
        updated.keep_secrets(&stored);
        assert_eq!(updated.url.as_deref(), Some("https://ops:s3cret@example.com/v2/health?api_key=k3y"));
        assert_eq!(updated.headers["Authorization"], "Bearer t0ken");
        assert_eq!(updated.headers["Accept"], "application/json");
        assert!(updated.unkept_secrets().is_empty());
        let copied = stored.redacted();
        assert_eq!(copied.unkept_secrets().len(), 3, "two headers and the URL");
    }

    #[test]
    fn texts_lose_every_spelling_of_a_secret() {
        let s = spec(serde_json::json!({
            "kind": "http", "url": "https://ops:p%40ss@example.com/?token=a%2Bb", "interval": "30s",
            "headers": {"X-Key": "k3y"},
        }));
        let text = "auth p@ss failed for token a+b (a%2Bb), key k3y, user ops";
        assert_eq!(scrub(text, &s.secrets()), "auth *** failed for token *** (***), key ***, user ***");
    }
}
