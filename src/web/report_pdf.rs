//! A report as the PDF template reads it (`src/pdf/report.typ`): the texts in the report's
//! language and every figure formatted, and the renderer of a build with the `pdf` feature.

use super::i18n::{Lang, texts};
use super::report::{lang, local, percent};
use crate::domain::report::Content;
use crate::domain::sla::format_hms;

/// The report's PDF, in a build with the `pdf` feature (typst, with the template
/// `src/pdf/report.typ` and the font built in); nothing in a build without.
#[derive(Default)]
pub struct Pdf {
    #[cfg(feature = "pdf")]
    renderer: opsline_pdf::Renderer,
}

impl Pdf {
    /// `None` when this build has no PDF renderer.
    pub fn render(&self, content: &Content, sha256: &str) -> Option<Result<Vec<u8>, String>> {
        #[cfg(feature = "pdf")]
        {
            let data = serde_json::to_vec(&pdf_data(content, sha256)).map_err(|e| e.to_string());
            Some(data.and_then(|d| self.renderer.render(opsline_pdf::REPORT, &d)))
        }
        #[cfg(not(feature = "pdf"))]
        {
            let _ = (content, sha256);
            None
        }
    }
}

/// What the PDF template reads: the texts in the report's language and the figures formatted.
pub fn pdf_data(c: &Content, sha256: &str) -> serde_json::Value {
    use serde_json::json;
    let lang = lang(c.language);
    let t = texts(lang);
    let p = &c.period;
    let text_of =
        |prefix: &str, key: &str| super::i18n::lookup(lang, &format!("{prefix}{key}")).unwrap_or(key).to_string();
    let rows: Vec<_> = c
        .compliance
        .iter()
        .filter(|r| r.in_time + r.late + r.breached + r.auto_resolved + r.cancelled > 0)
        .map(|r| {
            json!({"level": r.level, "timer": text_of("rp_timer_", r.timer.as_str()), "in_time": r.in_time, "late": r.late,
                "breached": r.breached, "auto_resolved": r.auto_resolved, "cancelled": r.cancelled, "rate": percent(r.compliance)})
        })
        .collect();
    let breaches: Vec<_> = c
        .breaches
        .iter()
        .map(|b| {
            let timer = text_of("rp_timer_", b.timer.as_str());
            let timer = if b.cycle > 1 { format!("{timer} ({})", b.cycle) } else { timer };
            let due = b.due_at.as_deref().map(|d| local(d, &p.timezone)).unwrap_or_default();
            json!({"number": b.ticket_number, "level": b.level, "timer": timer, "due": due,
                "ended": local(&b.ended_at, &p.timezone), "late": format_hms(b.late_secs)})
        })
        .collect();
    let opened: Vec<_> = c
        .opened
        .iter()
        .map(|o| json!({"level": o.level, "source": text_of("rp_src_", o.source.as_str()), "tickets": o.tickets}))
        .collect();
    let closed: Vec<String> = c.closed.iter().map(|x| format!("{} {}", x.level, x.tickets)).collect();
    let trend: Vec<_> = c
        .trend
        .iter()
        .map(|x| json!({"label": x.first_day.get(5..).unwrap_or(&x.first_day), "rate": percent(x.compliance), "height": x.compliance}))
        .collect();
    json!({
        "t": t,
        "lang": if lang == Lang::En { "en" } else { "zh" },
        "title": format!("{}: {}", t.get("rp_title").copied().unwrap_or_default(), c.customer.name),
        "subtitle": format!("{} · {} – {} ({})", text_of("rp_", p.kind.as_str()), p.first_day, p.last_day, p.timezone),
        "sha256": sha256,
        "overall": percent(c.overall),
        "opened": opened,
        "opened_total": c.opened.iter().map(|o| o.tickets).sum::<u64>(),
        "closed_total": c.closed.iter().map(|x| x.tickets).sum::<u64>(),
        "closed_text": if closed.is_empty() { "0".to_string() } else { closed.join(" · ") },
        "rows": rows,
        "breaches": breaches,
        "arrivals": format!("{} {} · {} {}", c.visits.arrivals_in_time, t.get("rp_in_time").copied().unwrap_or_default(),
            c.visits.arrivals_late, t.get("rp_late").copied().unwrap_or_default()),
        "work_orders": c.visits.work_orders_signed,
        "operations": c.operations.as_ref().map(|o| {
            let word = |k: &str| t.get(k).copied().unwrap_or_default();
            let levels: Vec<String> =
                ["I", "II", "III", "IV"].iter().zip(o.backlog.open).map(|(l, n)| format!("{l} {n}")).collect();
            let down: Vec<String> = o
                .inspections
                .iter()
                .filter(|i| !i.down.is_empty())
                .map(|i| format!("#{} {}: {}", i.id, word("rp_down"), i.down.join(", ")))
                .collect();
            json!({
                "backlog": format!("{}: {} · {}: {}", word("rp_backlog"), levels.join(" · "), word("rp_waiting_customer"),
                    o.backlog.waiting_customer),
                "checks": o.checks.iter().map(|c| json!({"name": c.name, "uptime": c.uptime.map_or("–".to_string(),
                    |u| format!("{:.2} %", u * 100.0)), "failures": c.failures})).collect::<Vec<_>>(),
                "inspections": std::iter::once(format!("{}: {}", word("rp_inspections"), o.inspections_total))
                    .chain(down).collect::<Vec<_>>().join(" · "),
            })
        }),
        "satisfaction": c.satisfaction.as_ref().map(|s| {
            let word = |k: &str| t.get(k).copied().unwrap_or_default();
            let mean = s.mean.map_or("–".to_string(), |m| format!("{m:.2}"));
            json!({
                "summary": format!("{}: {} / {} · {}: {mean} · {}: {} ({} {} {} · {} {})", word("rp_rated"), s.rated, s.asked,
                    word("rp_mean"), word("rp_callbacks"), s.callbacks_asked, word("rp_callbacks_ended"),
                    s.callbacks_in_time, word("rp_in_time"), s.callbacks_late, word("rp_late")),
                "scores": s.scores,
                "engineers": s.engineers.iter().map(|e| json!({"engineer": e.engineer, "ratings": e.ratings,
                    "mean": format!("{:.2}", e.mean)})).collect::<Vec<_>>(),
            })
        }),
        "knowledge": c.knowledge.as_ref().map(|k| {
            let word = |key: &str| t.get(key).copied().unwrap_or_default();
            format!("{}: {} / {} · {}: {} · {}: {} · {}: {}", word("kb_counts"), k.helpful, k.not_helpful,
                word("rp_kb_opened"), k.articles_opened, word("rp_kb_used"), k.suggestions_used, word("rp_kb_solved"),
                k.solved_by_articles)
        }),
        "trend": trend,
        "note": c.note,
    })
}
