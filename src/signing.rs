//! Signed values Opsline hands out and later trusts again: session and form cookies, portal links
//! and escalation acknowledge links. One scheme for all: `{value}.{signature}`, the signature an
//! HMAC-SHA256 (URL-safe base64) over the purpose and the value under `web.secret_key`, so a value
//! signed for one purpose is never accepted for another. Values that expire carry their expiry
//! inside what is signed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What a signed value is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedFor {
    /// A page session cookie.
    Session,
    /// The cookie a sign-in form repeats its CSRF token in.
    Form,
    /// A contact's one-time portal link.
    PortalLink,
    /// An escalation's acknowledge link in a mail.
    Acknowledge,
    /// A service report's acknowledge / dispute link in a mail.
    ReportAnswer,
    /// A closed ticket's rating link in a mail.
    Rating,
}

impl SignedFor {
    fn label(self) -> &'static str {
        match self {
            SignedFor::Session => "session",
            SignedFor::Form => "form",
            SignedFor::PortalLink => "portal-link",
            SignedFor::Acknowledge => "ack",
            SignedFor::ReportAnswer => "report-answer",
            SignedFor::Rating => "rating",
        }
    }
}

pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// `secret_key` is `web.secret_key`; without one (development only) a random key is used, so
    /// sessions and links end when the process does.
    pub fn new(secret_key: Option<&str>) -> Self {
        let key = match secret_key {
            Some(k) => k.as_bytes().to_vec(),
            None => {
                let mut k = vec![0u8; 32];
                rand::rng().fill_bytes(&mut k);
                k
            }
        };
        Signer { key }
    }

    fn mac(&self, purpose: SignedFor, value: &str) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(purpose.label().as_bytes());
        mac.update(b".");
        mac.update(value.as_bytes());
        Some(mac)
    }

    /// `value.signature`. HMAC takes a key of any length, so there is always a signature.
    pub fn sign(&self, purpose: SignedFor, value: &str) -> String {
        let sig = self.mac(purpose, value).map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()));
        format!("{value}.{}", sig.unwrap_or_default())
    }

    /// The value, if `signed` was signed for `purpose` under this key (compared in constant time).
    pub fn verify<'a>(&self, purpose: SignedFor, signed: &'a str) -> Option<&'a str> {
        let (value, sig) = signed.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(purpose, value)?.verify_slice(&sig).ok()?;
        Some(value)
    }

    /// `value.expires.signature`, good until `expires` (seconds since the epoch).
    pub fn sign_until(&self, purpose: SignedFor, value: &str, expires: i64) -> String {
        self.sign(purpose, &format!("{value}.{expires}"))
    }

    /// The value, if genuine and `now` is before its expiry.
    pub fn verify_until<'a>(&self, purpose: SignedFor, signed: &'a str, now: i64) -> Option<&'a str> {
        let (value, expires) = self.verify(purpose, signed)?.rsplit_once('.')?;
        (now < expires.parse::<i64>().ok()?).then_some(value)
    }

    /// The token of contact `contact_id`'s link to answer report `report_id`, working `days` from
    /// `from` (the report's creation; seconds since the epoch).
    pub fn report_answer(&self, report_id: i64, contact_id: i64, from: i64, days: u32) -> String {
        let expires = from + i64::from(days) * 86_400;
        self.sign_until(SignedFor::ReportAnswer, &format!("{report_id}-{contact_id}"), expires)
    }

    /// (report id, contact id) of a [`Signer::report_answer`] token, while it works.
    pub fn report_answer_of(&self, token: &str, now: i64) -> Option<(i64, i64)> {
        let (r, c) = self.verify_until(SignedFor::ReportAnswer, token, now)?.split_once('-')?;
        Some((r.parse().ok()?, c.parse().ok()?))
    }

    /// The token of rating `id`'s link. It names the rating only: when the link stops working is
    /// the rating's `expires_at`, so an expired link gets its own page.
    pub fn rating(&self, id: i64) -> String {
        self.sign(SignedFor::Rating, &id.to_string())
    }

    /// The rating id of a [`Signer::rating`] token.
    pub fn rating_of(&self, token: &str) -> Option<i64> {
        self.verify(SignedFor::Rating, token)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_hold_for_their_purpose_and_key_only() {
        let s = Signer::new(Some("k".repeat(32).as_str()));
        let signed = s.sign(SignedFor::Session, "abc");
        assert_eq!(s.verify(SignedFor::Session, &signed), Some("abc"));
        assert_eq!(s.verify(SignedFor::Form, &signed), None, "another purpose");
        assert_eq!(Signer::new(Some("x".repeat(32).as_str())).verify(SignedFor::Session, &signed), None);
        assert_eq!(s.verify(SignedFor::Session, "abd.forged"), None);
        let tampered = signed.replacen("abc", "abd", 1);
        assert_eq!(s.verify(SignedFor::Session, &tampered), None);
    }

    #[test]
    fn expiring_values_verify_until_they_expire() {
        let s = Signer::new(Some("k".repeat(32).as_str()));
        let t = s.sign_until(SignedFor::Acknowledge, "42", 1000);
        assert_eq!(s.verify_until(SignedFor::Acknowledge, &t, 999), Some("42"));
        assert_eq!(s.verify_until(SignedFor::Acknowledge, &t, 1000), None);
        assert!(!t.contains(['/', '+', '=']), "URL-safe: {t}");
    }
}
