//! Whether a mail really comes from its `From` domain, as the receiving MTA judged it
//! (`Authentication-Results`, RFC 8601). With `integrations.email.require_auth_results` on, the
//! e-mail intake takes a message only when the MTA says DMARC passed for the sender's domain, or
//! SPF and DKIM both passed for it. Anyone can write headers into a message before sending it, and
//! an MTA adds its own on top, so only the topmost result counts — the topmost from
//! `integrations.email.authserv_id` (the MTA's own name) when that is set.

/// The verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Why not, for the log and the 422.
    Fail(String),
}

/// `results`: every `Authentication-Results` value of the message, topmost first. `from_domain`:
/// the `From` address's domain. `authserv_id`: whose results count (empty: the topmost only).
pub fn judge(results: &[&str], from_domain: &str, authserv_id: &str) -> Verdict {
    let from_domain = from_domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let counted: Vec<&str> = if authserv_id.is_empty() {
        results.iter().take(1).copied().collect()
    } else {
        results.iter().copied().filter(|r| server(r).eq_ignore_ascii_case(authserv_id)).take(1).collect()
    };
    if counted.is_empty() {
        return Verdict::Fail(if authserv_id.is_empty() {
            "no Authentication-Results header".into()
        } else {
            format!("no Authentication-Results header from {authserv_id}")
        });
    }
    let passed = |method: &str, property: &str| {
        counted.iter().any(|r| {
            results_of(r).any(|res| {
                res.method == method
                    && res.result == "pass"
                    && res.domain(property).as_deref() == Some(from_domain.as_str())
            })
        })
    };
    let dmarc = passed("dmarc", "header.from");
    let spf = passed("spf", "smtp.mailfrom");
    let dkim = passed("dkim", "header.d");
    if dmarc || (spf && dkim) {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "the receiving server did not confirm {from_domain}: dmarc {}, spf {}, dkim {}",
            word(dmarc),
            word(spf),
            word(dkim)
        ))
    }
}

fn word(passed: bool) -> &'static str {
    if passed { "passed" } else { "not passed" }
}

/// The authserv-id: what comes before the first `;` (less a version number).
fn server(value: &str) -> &str {
    let head = value.split(';').next().unwrap_or_default().trim();
    head.split_whitespace().next().unwrap_or_default()
}

/// One `method=result prop=value …` clause.
struct Clause {
    method: String,
    result: String,
    props: Vec<(String, String)>,
}

impl Clause {
    /// The domain a property names (`header.from=example.com`, `smtp.mailfrom=a@example.com`,
    /// `header.d=example.com`), lower-cased.
    fn domain(&self, property: &str) -> Option<String> {
        let v = self.props.iter().find(|(k, _)| k == property)?.1.as_str();
        let v = v.rsplit('@').next().unwrap_or(v);
        Some(v.trim_end_matches('.').to_ascii_lowercase())
    }
}

fn results_of(value: &str) -> impl Iterator<Item = Clause> + '_ {
    value.split(';').skip(1).filter_map(|clause| {
        let clause = without_comments(clause);
        let mut words = clause.split_whitespace();
        let (method, result) = words.next()?.split_once('=')?;
        let props = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_string()))
            .collect::<Vec<_>>();
        let method = method.split('/').next().unwrap_or(method).to_ascii_lowercase();
        Some(Clause { method, result: result.to_ascii_lowercase(), props })
    })
}

/// A clause without its `(comments)`.
fn without_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MX: &str = "mx.opsline.example";

    #[test]
    fn dmarc_or_spf_and_dkim_for_the_from_domain_pass() {
        let dmarc = "mx.opsline.example; dmarc=pass (p=reject) header.from=acme.example";
        assert_eq!(judge(&[dmarc], "acme.example", MX), Verdict::Pass);
        let both = "mx.opsline.example 1; spf=pass smtp.mailfrom=ops@acme.example; dkim=pass header.d=acme.example header.s=s1";
        assert_eq!(judge(&[both], "ACME.example", MX), Verdict::Pass);
        assert_eq!(judge(&[both], "acme.example", ""), Verdict::Pass, "the topmost result counts without an id");
    }

    #[test]
    fn anything_less_fails_and_says_what_was_missing() {
        let spf_only = "mx.opsline.example; spf=pass smtp.mailfrom=acme.example; dkim=fail header.d=acme.example";
        let Verdict::Fail(why) = judge(&[spf_only], "acme.example", MX) else { panic!("passed") };
        assert!(why.contains("spf passed") && why.contains("dkim not passed"), "{why}");
        // DMARC passed, but for another domain than the From header's.
        let other = "mx.opsline.example; dmarc=pass header.from=evil.example";
        assert!(matches!(judge(&[other], "acme.example", MX), Verdict::Fail(_)));
        assert!(matches!(judge(&[], "acme.example", MX), Verdict::Fail(_)));
        assert!(matches!(judge(&["mx.opsline.example; dmarc=none"], "acme.example", MX), Verdict::Fail(_)));
    }

    #[test]
    fn results_written_by_the_sender_do_not_count() {
        // The sender wrote a passing result under the MTA's name; the MTA added its own, failing
        // one on top. Only the topmost counts, with or without an authserv-id.
        let forged = "mx.opsline.example; dmarc=pass header.from=acme.example";
        let real = "mx.opsline.example; dmarc=fail header.from=acme.example";
        assert!(matches!(judge(&[real, forged], "acme.example", ""), Verdict::Fail(_)));
        assert!(matches!(judge(&[real, forged], "acme.example", MX), Verdict::Fail(_)));
        // A result from another server is not the MTA's.
        let elsewhere = "relay.evil.example; dmarc=pass header.from=acme.example";
        assert!(matches!(judge(&[elsewhere], "acme.example", MX), Verdict::Fail(_)));
    }
}
