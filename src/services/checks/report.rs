//! An inspection as a report a person reads: Markdown (for a chat or a ticket) and a printable
//! HTML page. Every value from a check is escaped.

use crate::domain::check::Health;
use std::fmt::Write;

use super::inspections::InspectionView;

fn verdict_line(v: &InspectionView) -> String {
    let up = v.results.iter().filter(|i| i.status == Health::Up).count();
    let down = v.results.iter().filter(|i| i.status == Health::Down).count();
    let unknown = v.results.iter().filter(|i| i.status == Health::Unknown).count();
    format!("{}: {up} up, {down} down, {unknown} unknown of {} ({} done)", v.status, v.total, v.done)
}

fn detail(i: &super::inspections::InspectionItem) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &i.failed_condition {
        parts.push(format!("{c} — observed {}", i.observed.as_deref().unwrap_or("(none)")));
    }
    if let Some(e) = &i.error
        && !parts.iter().any(|p| p.contains(e.as_str()))
    {
        parts.push(e.clone());
    }
    parts.join("; ")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(v: &InspectionView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Inspection {}\n", v.id);
    let _ = writeln!(s, "**{}**\n", verdict_line(v));
    let _ = writeln!(
        s,
        "Started {} · finished {} · requested by {}\n",
        v.started_at.to_rfc3339(),
        v.finished_at.map_or("—".into(), |f| f.to_rfc3339()),
        v.requested_by.as_deref().unwrap_or("—")
    );
    if let Some(p) = v.diff.previous_id {
        let list = |l: &[String]| if l.is_empty() { "none".to_string() } else { l.join(", ") };
        let _ = writeln!(
            s,
            "Compared with inspection {p}: newly failing: {}; recovered: {}.\n",
            list(&v.diff.newly_failing),
            list(&v.diff.recovered)
        );
    }
    let _ = writeln!(s, "| check | kind | status | previous | duration | detail |\n|---|---|---|---|---|---|");
    for i in &v.results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} ms | {} |",
            md_cell(&i.name),
            i.kind,
            i.status,
            i.previous.map_or("—", Health::as_str),
            i.duration_ms,
            md_cell(&detail(i))
        );
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

pub fn html(v: &InspectionView) -> String {
    let mut rows = String::new();
    for i in &v.results {
        let _ = write!(
            rows,
            "<tr class=\"{st}\"><td>{}</td><td>{}</td><td><strong>{st}</strong></td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
            esc(&i.name),
            esc(&i.kind),
            esc(i.previous.map_or("—", Health::as_str)),
            i.duration_ms,
            esc(&detail(i)),
            st = esc(i.status.as_str()),
        );
    }
    let diff = match v.diff.previous_id {
        Some(p) => format!(
            "<p>Compared with inspection {p}: newly failing: {}; recovered: {}.</p>",
            esc(&if v.diff.newly_failing.is_empty() { "none".into() } else { v.diff.newly_failing.join(", ") }),
            esc(&if v.diff.recovered.is_empty() { "none".into() } else { v.diff.recovered.join(", ") }),
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Inspection {id}</title>\
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#111}}table{{border-collapse:collapse;width:100%}}\
td,th{{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}}tr.down td{{background:#fde2e2}}\
tr.unknown td{{background:#fff4d6}}@media print{{body{{margin:0}}}}</style></head><body>\
<h1>Inspection {id}</h1><p><strong>{verdict}</strong></p><p>Started {started} · finished {finished} · requested by {by}</p>{diff}\
<table><thead><tr><th>check</th><th>kind</th><th>status</th><th>previous</th><th>duration</th><th>detail</th></tr></thead>\
<tbody>{rows}</tbody></table></body></html>",
        id = v.id,
        verdict = esc(&verdict_line(v)),
        started = esc(&v.started_at.to_rfc3339()),
        finished = esc(&v.finished_at.map_or("—".into(), |f| f.to_rfc3339())),
        by = esc(v.requested_by.as_deref().unwrap_or("—")),
    )
}
