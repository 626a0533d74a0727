//! Customers and their contacts: tiers, languages and the `key` slug config files use.

crate::text_enum! {
    /// A customer's service tier: VIP customers get 7×24 star service.
    pub enum Tier ("tier") {
        Vip = "vip",
        Standard = "standard",
    }
}

crate::text_enum! {
    /// The language of pages and mails for a contact or user.
    pub enum Language ("language") {
        ZhCn = "zh-CN",
        En = "en",
    }
}

/// A `key` derived from a name: lower-case ASCII letters and digits joined by `-`. Names with no
/// such characters (e.g. only Chinese) get `customer`, which the caller makes unique.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else {
            dash = true;
        }
        if out.len() >= 48 {
            break;
        }
    }
    if out.is_empty() { "customer".to_string() } else { out }
}

/// Only the digits of a phone number, for matching what an agent types.
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(|c| c.is_ascii_digit()).collect()
}

/// A plausible e-mail address: one `@`, something on each side, a dot in the domain, no spaces.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && s.len() <= 320
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_and_dashed() {
        assert_eq!(slug("ACME Bank (Shanghai)"), "acme-bank-shanghai");
        assert_eq!(slug("华东电力"), "customer");
    }

    #[test]
    fn emails_need_a_domain_with_a_dot() {
        assert!(valid_email("li.wei@example.cn"));
        assert!(!valid_email("li.wei"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("a b@example.com"));
    }
}
