//! A service report as one standalone HTML document — the mail body, the portal's page and what
//! prints (`@media print`) — and its table of missed deadlines as CSV.

use minijinja::{Environment, context};

use super::i18n::{Lang, texts};
use crate::domain::customer::Language;
use crate::domain::report::Content;
use crate::domain::sla::format_hms;

const TEMPLATE: &str = include_str!("templates/report.html");

fn lang(l: Language) -> Lang {
    match l {
        Language::En => Lang::En,
        Language::ZhCn => Lang::ZhCn,
    }
}

/// The report in its language; `base` (the public URL) prefixes its links; `sha256` is printed
/// in the footer.
pub fn html(content: &Content, sha256: &str, base: &str) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let rows: Vec<_> = content
        .compliance
        .iter()
        .filter(|r| r.in_time + r.late + r.breached + r.auto_resolved + r.cancelled > 0)
        .collect();
    let breaches: Vec<_> = content
        .breaches
        .iter()
        .map(|b| {
            let mut v = serde_json::to_value(b).unwrap_or_default();
            v["late"] = format_hms(b.late_secs).into();
            v
        })
        .collect();
    let mut r = serde_json::to_value(content)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, format!("report content: {e}")))?;
    r["breaches"] = breaches.into();
    let ctx = context! {
        r,
        rows,
        t => texts(lang(content.language)),
        opened_total => content.opened.iter().map(|o| o.tickets).sum::<u64>(),
        closed_total => content.closed.iter().map(|c| c.tickets).sum::<u64>(),
        sha256,
        base => base.trim_end_matches('/'),
    };
    env.get_template("report.html")?.render(ctx)
}

/// The missed deadlines, one line each, with a header line.
pub fn csv(content: &Content) -> String {
    let mut out = String::from("ticket,level,timer,cycle,outcome,due_at,ended_at,late_secs\r\n");
    for b in &content.breaches {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\r\n",
            field(&b.ticket_number),
            b.level,
            b.timer,
            b.cycle,
            b.outcome,
            b.due_at.as_deref().unwrap_or(""),
            b.ended_at,
            b.late_secs
        ));
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break; one that a spreadsheet
/// would take for a formula gets a leading apostrophe.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::ReportKind;
    use crate::domain::sla::TimerKind;
    use crate::domain::ticket::Source;

    /// Every value a template turns into a text key has its text in both languages.
    #[test]
    fn every_period_source_and_timer_has_its_text() {
        for l in [Lang::ZhCn, Lang::En] {
            let t = texts(l);
            for k in ReportKind::ALL {
                assert!(t.contains_key(format!("rp_{k}").as_str()), "rp_{k}");
            }
            for s in Source::ALL {
                assert!(t.contains_key(format!("rp_src_{s}").as_str()), "rp_src_{s}");
            }
            for k in TimerKind::ALL {
                assert!(t.contains_key(format!("rp_timer_{k}").as_str()), "rp_timer_{k}");
            }
        }
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("T-1"), "T-1");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
