//! What ticket text fields accept: required text of bounded length, without control characters
//! (but line breaks and tabs where text spans lines) or the bidirectional controls that make text
//! read differently from what it says; titles are one line. Text from outside (alerts, mail) is
//! cleaned into that shape rather than refused.

use super::change::Refusal;

/// Required, at most `max` characters.
pub fn text(field: &'static str, s: &str, max: usize) -> Result<(), Refusal> {
    if s.trim().is_empty() {
        return Err(Refusal::Invalid { field, message: format!("`{field}` must not be empty") });
    }
    if s.chars().count() > max {
        return Err(Refusal::Invalid { field, message: format!("`{field}` has at most {max} characters") });
    }
    if let Some(c) = s.chars().find(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || reorders(*c)) {
        return Err(Refusal::Invalid { field, message: format!("`{field}` must not contain U+{:04X}", u32::from(c)) });
    }
    Ok(())
}

/// One line of text (a title): as `text`, and no line breaks or tabs either.
pub fn line(field: &'static str, s: &str, max: usize) -> Result<(), Refusal> {
    text(field, s, max)?;
    if s.contains(['\n', '\r', '\t']) {
        return Err(Refusal::Invalid { field, message: format!("`{field}` is one line: no line breaks or tabs") });
    }
    Ok(())
}

/// Text from outside (an alert's summary, a mail's subject) made into a title `line` accepts:
/// control characters become spaces, reordering controls go, runs of space become one, and it is
/// cut to `max` characters. Empty when nothing is left.
pub fn one_line(s: &str, max: usize) -> String {
    let spaced: String = s.chars().filter(|c| !reorders(*c)).map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(max).collect()
}

/// Text from outside made into text `plain` accepts: control characters other than line breaks
/// and tabs, and reordering controls, go; cut to `max` characters.
pub fn cleaned(s: &str, max: usize) -> String {
    s.chars().filter(|c| !reorders(*c) && (!c.is_control() || matches!(c, '\n' | '\r' | '\t'))).take(max).collect()
}

/// Text that may span lines (a description): no control characters but line breaks and tabs,
/// and no reordering controls. Empty is allowed.
pub fn plain(field: &'static str, s: &str, max: usize) -> Result<(), Refusal> {
    if s.is_empty() { Ok(()) } else { text(field, s, max) }
}

/// The bidirectional embedding, override and isolate controls: they make text read differently
/// from what it says (a ticket title shown reversed in the console, a mail subject spoofed).
fn reorders(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_refused_in_fields_and_cleaned_from_outside_text() {
        assert!(text("body", "two\nlines\tand a tab", 100).is_ok());
        assert!(line("title", "two\nlines", 100).is_err());
        assert!(text("body", "\u{202E}gnp.exe", 100).is_err());
        assert!(text("body", "bell\u{7}", 100).is_err());
        assert!(plain("description", "", 100).is_ok());
        assert_eq!(one_line(" disk\r\n full \u{202E}now\t", 100), "disk full now");
        assert_eq!(cleaned("a\u{1b}[31mred\nb\u{2066}", 100), "a[31mred\nb");
        assert_eq!(one_line("abcdef", 3), "abc");
    }
}
