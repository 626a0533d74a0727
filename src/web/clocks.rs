//! The SLA clocks as pages show them: a state and deadline for the live countdown (console),
//! plain words for customers ("responded ✓ 09:03", "plan due 09:25", "paused — waiting for your
//! logs"), and the explanation of how a deadline was reached.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Viewer;
use super::i18n::Lang;
use crate::domain::sla::{TimerKind, TimerState};
use crate::services::tickets::{SlaSet, TimerView};

#[derive(Serialize)]
pub struct Step {
    kind: String,
    from: String,
    to: String,
    counted: String,
    note: String,
}

/// One SLA clock of a ticket.
#[derive(Serialize)]
pub struct Clock {
    pub kind: &'static str,
    pub label: &'static str,
    /// none | running | paused | breached | met | auto_resolved | cancelled
    pub state: String,
    /// The ticket has this timer (the current cycle's).
    pub present: bool,
    pub due: Option<DateTime<Utc>>,
    pub due_local: String,
    pub met_local: String,
    /// Seconds from start to deadline, for the "< 20 % left" colour.
    pub total: i64,
    pub plain: String,
    pub target: String,
    pub calendar: String,
    pub steps: Vec<Step>,
}

/// `2h 05m` / `2小时05分`.
fn duration(lang: Lang, secs: i64) -> String {
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    match (lang, h > 0) {
        (Lang::ZhCn, true) => format!("{h}小时{m:02}分"),
        (Lang::ZhCn, false) => format!("{m}分"),
        (Lang::En, true) => format!("{h}h {m:02}m"),
        (Lang::En, false) => format!("{m}m"),
    }
}

/// `09:03` on the same day as `now` in the viewer's zone, else `10-21 09:03`.
fn when(v: &Viewer, t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if v.fmt(t, "%Y-%m-%d") == v.fmt(now, "%Y-%m-%d") { v.fmt(t, "%H:%M") } else { v.fmt(t, "%m-%d %H:%M") }
}

fn plain(v: &Viewer, t: &TimerView, waiting: Option<&str>, now: DateTime<Utc>) -> String {
    let zh = v.lang == Lang::ZhCn;
    let due = t.due_at.map(|d| when(v, d, now)).unwrap_or_default();
    let label = match (t.kind, zh) {
        (TimerKind::Response, true) => "响应",
        (TimerKind::Plan, true) => "处理方案",
        (TimerKind::Resolution, true) => "解决",
        (TimerKind::Response, false) => "response",
        (TimerKind::Plan, false) => "plan",
        (TimerKind::Resolution, false) => "resolution",
        (TimerKind::Arrival, true) => "上门到场",
        (TimerKind::Arrival, false) => "arrival",
        (TimerKind::Callback, true) => "回访",
        (TimerKind::Callback, false) => "callback",
    };
    match t.state {
        TimerState::Met => {
            let at = t.met_at.map(|m| when(v, m, now)).unwrap_or_default();
            let done = match (t.kind, zh) {
                (TimerKind::Response, true) => "已响应",
                (TimerKind::Plan, true) => "方案已提交",
                (TimerKind::Resolution, true) => "已解决",
                (TimerKind::Response, false) => "responded",
                (TimerKind::Plan, false) => "plan delivered",
                (TimerKind::Resolution, false) => "resolved",
                (TimerKind::Arrival, true) => "已到场",
                (TimerKind::Arrival, false) => "on site",
                (TimerKind::Callback, true) => "已回访",
                (TimerKind::Callback, false) => "called back",
            };
            format!("{done} ✓ {at}")
        }
        TimerState::Paused => match (waiting, zh) {
            (Some(r), true) => format!("已暂停 — {r}"),
            (Some(r), false) => format!("paused — {r}"),
            (None, true) => "已暂停".into(),
            (None, false) => "paused".into(),
        },
        TimerState::Breached if zh => format!("{label}已超时（应于 {due}）"),
        TimerState::Breached => format!("{label} overdue (was due {due})"),
        TimerState::Cancelled if zh => format!("{label}已取消"),
        TimerState::Cancelled => format!("{label} cancelled"),
        _ if zh => format!("{label}截止 {due}"),
        _ => format!("{label} due {due}"),
    }
}

pub fn clock(
    v: &Viewer,
    kind: &'static str,
    t: Option<&TimerView>,
    waiting: Option<&str>,
    now: DateTime<Utc>,
) -> Clock {
    let label = v.t(kind);
    let Some(t) = t else {
        return Clock {
            kind,
            label,
            state: "none".into(),
            present: false,
            due: None,
            due_local: String::new(),
            met_local: String::new(),
            total: 0,
            plain: String::new(),
            target: String::new(),
            calendar: String::new(),
            steps: Vec::new(),
        };
    };
    let steps = t
        .explain
        .steps
        .iter()
        .map(|s| Step {
            kind: s.kind.clone(),
            from: v.time(s.from),
            to: v.time(s.to),
            counted: s.counted_secs.map(|c| duration(v.lang, c)).unwrap_or_default(),
            note: s.note.clone().unwrap_or_default(),
        })
        .collect();
    Clock {
        kind,
        label,
        state: t.state.to_string(),
        present: true,
        due: t.due_at,
        due_local: t.due_at.map(|d| when(v, d, now)).unwrap_or_default(),
        met_local: t.met_at.map(|d| when(v, d, now)).unwrap_or_default(),
        total: t.due_at.map_or(0, |d| (d - t.started_at).num_seconds()),
        plain: plain(v, t, waiting, now),
        target: t.target.clone(),
        calendar: format!("{} ({})", t.explain.calendar, t.explain.timezone),
        steps,
    }
}

/// The clocks of a ticket's current cycle: the three, and the arrival while a visit is asked for.
pub fn clocks(v: &Viewer, sla: &SlaSet, waiting: Option<&str>, now: DateTime<Utc>) -> Vec<Clock> {
    let mut out = vec![
        clock(v, "response", sla.response.as_ref(), waiting, now),
        clock(v, "plan", sla.plan.as_ref(), waiting, now),
        clock(v, "resolution", sla.resolution.as_ref(), waiting, now),
    ];
    if sla.arrival.is_some() {
        out.push(clock(v, "arrival", sla.arrival.as_ref(), waiting, now));
    }
    if sla.callback.is_some() {
        out.push(clock(v, "callback", sla.callback.as_ref(), waiting, now));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_page_language() {
        assert_eq!(duration(Lang::En, 7500), "2h 05m");
        assert_eq!(duration(Lang::ZhCn, 7500), "2小时05分");
        assert_eq!(duration(Lang::ZhCn, 106), "1分");
    }
}
