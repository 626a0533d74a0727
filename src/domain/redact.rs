//! Personal data out of a text before it becomes knowledge: the names, e-mail addresses and phone
//! numbers Opsline knows (a ticket's customer and its contacts), and anything else shaped like
//! an e-mail address or a phone number, become placeholders. Pure.

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Contact,
    Email,
    Phone,
    Customer,
}

impl Kind {
    pub fn placeholder(self) -> &'static str {
        match self {
            Kind::Contact => "[contact]",
            Kind::Email => "[email]",
            Kind::Phone => "[phone]",
            Kind::Customer => "[customer]",
        }
    }
}

/// Known personal data: text and what it is.
#[derive(Debug, Clone, Default)]
pub struct Known {
    items: Vec<(String, Kind)>,
}

impl Known {
    pub fn add(&mut self, text: &str, kind: Kind) {
        let t = text.trim();
        // One character names too much (a surname alone would blank every sentence).
        if t.chars().count() >= 2 {
            self.items.push((t.to_string(), kind));
        }
    }

    /// `text` with every known item (longest first, letters in any case), then every other
    /// e-mail address and phone number, replaced by placeholders.
    pub fn redact(&self, text: &str) -> String {
        let mut items = self.items.clone();
        items.sort_by_key(|(t, _)| std::cmp::Reverse(t.chars().count()));
        let mut out = text.to_string();
        for (t, kind) in &items {
            out = replace_ignoring_case(&out, t, kind.placeholder());
        }
        phones(&emails(&out))
    }
}

fn replace_ignoring_case(text: &str, what: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    let needle = what.to_lowercase();
    // Lowercasing may change byte lengths outside ASCII; then only exact matches are replaced.
    if lower.len() != text.len() || needle.len() != what.len() {
        return text.replace(what, with);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + i]);
        out.push_str(with);
        at += i + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

fn is_email_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// Every `local@domain.tld` replaced.
fn emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = out.len();
            let kept: Vec<char> = out.chars().collect();
            let mut local = 0;
            while local < kept.len() && is_email_char(kept[kept.len() - 1 - local]) {
                local += 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_email_char(chars[end]) {
                end += 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            let domain = domain.trim_end_matches('.');
            if local > 0 && domain.contains('.') && !domain.starts_with('.') {
                for c in kept[kept.len() - local..].iter() {
                    start -= c.len_utf8();
                }
                out.truncate(start);
                out.push_str(Kind::Email.placeholder());
                i = i + 1 + domain.chars().count();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Every phone number replaced: a Chinese mobile number (11 digits from 13…19), or seven to
/// fifteen digits written with a leading `+` or `0` or grouped by spaces or dashes.
fn phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = (chars[i] == '+' || chars[i].is_ascii_digit())
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '-' || chars[i - 1] == '.'));
        if starts {
            let mut end = i;
            let mut digits = String::new();
            let mut grouped = false;
            while end < chars.len() {
                let c = chars[end];
                if c.is_ascii_digit() {
                    digits.push(c);
                } else if (c == ' ' || c == '-')
                    && end + 1 < chars.len()
                    && chars[end + 1].is_ascii_digit()
                    && !digits.is_empty()
                {
                    grouped = true;
                } else if !(c == '+' && end == i) {
                    break;
                }
                end += 1;
            }
            let followed_by_word = end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '.');
            let mobile = digits.len() == 11 && digits.starts_with('1') && digits.as_bytes()[1] >= b'3';
            let shaped = (7..=15).contains(&digits.len()) && (chars[i] == '+' || digits.starts_with('0') || grouped);
            if !followed_by_word && (mobile || shaped) {
                out.push_str(Kind::Phone.placeholder());
                i = end;
                continue;
            }
            // Not a phone number: keep the whole run as written.
            out.extend(&chars[i..end.max(i + 1)]);
            i = end.max(i + 1);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_and_any_address_or_number_become_placeholders() {
        let mut k = Known::default();
        k.add("张伟", Kind::Contact);
        k.add("Acme 制造", Kind::Customer);
        k.add("acme", Kind::Customer);
        k.add("zhang.wei@acme.example", Kind::Email);
        let text = "ACME 制造的张伟（Zhang.Wei@Acme.example，13800138000）报告 ORA-12170；\
                    另抄送 ops@example.com，座机 010-62345678，+86 138 0013 8000。版本 NC65 补丁 20261205。";
        let r = k.redact(text);
        for gone in ["张伟", "Acme", "ACME", "Zhang.Wei", "13800138000", "ops@example.com", "62345678", "0013"] {
            assert!(!r.contains(gone), "{gone} left in {r}");
        }
        for kept in ["ORA-12170", "NC65", "20261205", "[contact]", "[customer]", "[email]", "[phone]"] {
            assert!(r.contains(kept), "{kept} missing in {r}");
        }
    }

    #[test]
    fn text_without_personal_data_is_unchanged() {
        let text = "凭证生成报错 ORA-01555，重建 undo 表空间后恢复；IP 10.1.2.3 端口 1521。";
        assert_eq!(Known::default().redact(text), text);
    }
}
