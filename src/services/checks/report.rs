//! An inspection as a report a person reads: Markdown (for a chat or a ticket) and a printable
//! HTML page; an environment detection adds its table of conditions × hosts with what each host
//! showed. Every value from a check is escaped.

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

/// An environment detection's table: the hosts (checks), and per condition each host's cell
/// (`✓ value`, `✗ value`, or `—` where the host was not judged).
struct EnvironmentTable {
    hosts: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
}

fn environment_table(v: &InspectionView) -> Option<EnvironmentTable> {
    let judged: Vec<_> = v.results.iter().filter(|i| !i.conditions.is_empty() || i.error.is_some()).collect();
    let mut conditions: Vec<String> = Vec::new();
    for i in &judged {
        for c in &i.conditions {
            if !conditions.contains(&c.condition) {
                conditions.push(c.condition.clone());
            }
        }
    }
    if conditions.is_empty() {
        return None;
    }
    let hosts = judged.iter().map(|i| i.name.clone()).collect();
    let rows = conditions
        .into_iter()
        .map(|cond| {
            let cells = judged
                .iter()
                .map(|i| match i.conditions.iter().find(|c| c.condition == cond) {
                    Some(c) => {
                        let mark = if c.held { "✓" } else { "✗" };
                        let was = match c.previous {
                            Some(p) if p != c.held => {
                                if p {
                                    " (held before)"
                                } else {
                                    " (failed before)"
                                }
                            }
                            _ => "",
                        };
                        format!("{mark} {}{was}", c.observed.as_deref().unwrap_or(""))
                    }
                    None => "—".into(),
                })
                .collect();
            (cond, cells)
        })
        .collect();
    Some(EnvironmentTable { hosts, rows })
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
    if let Some(EnvironmentTable { hosts, rows }) = environment_table(v) {
        let _ = writeln!(s, "\n## Environment\n");
        let head: Vec<String> = hosts.iter().map(|h| md_cell(h)).collect();
        let _ = writeln!(s, "| condition | {} |\n|---|{}", head.join(" | "), "---|".repeat(hosts.len()));
        for (cond, cells) in rows {
            let cells: Vec<String> = cells.iter().map(|c| md_cell(c)).collect();
            let _ = writeln!(s, "| {} | {} |", md_cell(&cond), cells.join(" | "));
        }
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
    let environment = match environment_table(v) {
        Some(EnvironmentTable { hosts, rows }) => {
            let head: String = hosts.iter().map(|h| format!("<th>{}</th>", esc(h))).collect();
            let body: String = rows
                .iter()
                .map(|(cond, cells)| {
                    let tds: String = cells
                        .iter()
                        .map(|c| {
                            format!("<td class=\"{}\">{}</td>", if c.starts_with('✗') { "down" } else { "up" }, esc(c))
                        })
                        .collect();
                    format!("<tr><td>{}</td>{tds}</tr>", esc(cond))
                })
                .collect();
            format!(
                "<h2>Environment</h2><table><thead><tr><th>condition</th>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
        }
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Inspection {id}</title>\
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#111}}table{{border-collapse:collapse;width:100%}}\
td,th{{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}}tr.down td{{background:#fde2e2}}\
tr.unknown td{{background:#fff4d6}}td.down{{background:#fde2e2}}@media print{{body{{margin:0}}}}</style></head><body>\
<h1>Inspection {id}</h1><p><strong>{verdict}</strong></p><p>Started {started} · finished {finished} · requested by {by}</p>{diff}\
<table><thead><tr><th>check</th><th>kind</th><th>status</th><th>previous</th><th>duration</th><th>detail</th></tr></thead>\
<tbody>{rows}</tbody></table>{environment}</body></html>",
        id = v.id,
        verdict = esc(&verdict_line(v)),
        started = esc(&v.started_at.to_rfc3339()),
        finished = esc(&v.finished_at.map_or("—".into(), |f| f.to_rfc3339())),
        by = esc(v.requested_by.as_deref().unwrap_or("—")),
    )
}
