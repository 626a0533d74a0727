//! The database gauges as one stored value: computed by the instance holding the lease, read
//! and exported by every instance.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Metrics, levels, open_statuses, timers};

/// A count per (level, status) or (level, timer).
pub type Counts = Vec<(String, String, i64)>;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unix seconds when it was computed.
    pub taken_at: i64,
    pub tickets_open: Counts,
    pub at_risk: Counts,
    pub breached: Counts,
    pub outbox_pending: i64,
    /// Unix seconds of the oldest pending notification's creation.
    pub outbox_oldest_pending_at: Option<i64>,
    pub outbox_dead: i64,
    /// Unix seconds of the earliest escalation step that was due and not yet swept.
    pub sweep_oldest_due_at: Option<i64>,
    pub checks: Vec<CheckGauge>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckGauge {
    pub name: String,
    /// The check's health: `Some(true)` up, `Some(false)` down, `None` not known yet.
    pub up: Option<bool>,
    pub duration_secs: Option<f64>,
    pub cert_expires_at: Option<i64>,
}

fn set_counts(vec: &prometheus::IntGaugeVec, firsts: &[&str], seconds: &[&str], counts: &Counts) {
    for a in firsts {
        for b in seconds {
            let n = counts.iter().find(|(x, y, _)| x == a && y == b).map_or(0, |c| c.2);
            vec.with_label_values(&[a, b]).set(n);
        }
    }
}

impl Metrics {
    /// Exports a stored snapshot; ages count from `now` (unix seconds), so they keep growing
    /// between refreshes when nothing moves.
    pub fn apply(&self, s: &Snapshot, now: i64) {
        set_counts(&self.tickets_open, &levels(), &open_statuses(), &s.tickets_open);
        set_counts(&self.at_risk, &levels(), &timers(), &s.at_risk);
        set_counts(&self.breached, &levels(), &timers(), &s.breached);
        self.outbox_pending.set(s.outbox_pending);
        self.outbox_oldest_age.set(s.outbox_oldest_pending_at.map_or(0, |t| (now - t).max(0)) as f64);
        self.outbox_dead.set(s.outbox_dead);
        self.sweep_lag.set(s.sweep_oldest_due_at.map_or(0, |t| (now - t).max(0)) as f64);
        self.refreshed_at.set(s.taken_at as f64);
        let mut exported = self.exported_checks.lock().unwrap_or_else(|p| p.into_inner());
        let names: BTreeSet<String> = s.checks.iter().map(|c| c.name.clone()).collect();
        for gone in exported.difference(&names) {
            let _ = self.check_up.remove_label_values(&[gone]);
            let _ = self.check_duration.remove_label_values(&[gone]);
            let _ = self.check_cert_expiry.remove_label_values(&[gone]);
        }
        for c in &s.checks {
            let name = [c.name.as_str()];
            match c.up {
                Some(up) => self.check_up.with_label_values(&name).set(i64::from(up)),
                None => {
                    let _ = self.check_up.remove_label_values(&name);
                }
            }
            match c.duration_secs {
                Some(d) => self.check_duration.with_label_values(&name).set(d),
                None => {
                    let _ = self.check_duration.remove_label_values(&name);
                }
            }
            match c.cert_expires_at {
                Some(t) => self.check_cert_expiry.with_label_values(&name).set(t as f64),
                None => {
                    let _ = self.check_cert_expiry.remove_label_values(&name);
                }
            }
        }
        *exported = names;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sets_every_combination_and_forgets_deleted_checks() {
        let m = Metrics::new("t").expect("registry");
        let check =
            |name: &str, up| CheckGauge { name: name.into(), up, duration_secs: Some(0.25), cert_expires_at: None };
        let mut s = Snapshot {
            taken_at: 1_000,
            tickets_open: vec![("II".into(), "open".into(), 7)],
            outbox_oldest_pending_at: Some(940),
            checks: vec![check("web", Some(false)), check("db", None)],
            ..Default::default()
        };
        m.apply(&s, 1_000);
        let text = m.render().expect("render");
        assert!(text.contains(r#"opsline_tickets_open{level="II",status="open"} 7"#));
        assert!(text.contains(r#"opsline_tickets_open{level="II",status="in_progress"} 0"#));
        assert!(text.contains("opsline_outbox_oldest_pending_age_seconds 60"));
        assert!(text.contains(r#"opsline_check_up{check="web"} 0"#));
        assert!(!text.contains(r#"opsline_check_up{check="db"}"#));
        assert!(text.contains(r#"opsline_check_duration_seconds{check="db"} 0.25"#));
        s.checks = vec![check("db", Some(true))];
        s.tickets_open.clear();
        m.apply(&s, 1_010);
        let text = m.render().expect("render");
        assert!(!text.contains(r#"check="web""#));
        assert!(text.contains(r#"opsline_check_up{check="db"} 1"#));
        assert!(text.contains(r#"opsline_tickets_open{level="II",status="open"} 0"#));
        assert!(text.contains("opsline_outbox_oldest_pending_age_seconds 70"));
    }

    #[test]
    fn a_visits_arrival_and_a_ratings_callback_timer_are_counted_as_the_sla_timers_are() {
        let m = Metrics::new("t").expect("registry");
        let s = Snapshot {
            at_risk: vec![("II".into(), "arrival".into(), 2)],
            breached: vec![("I".into(), "callback".into(), 1), ("I".into(), "plan".into(), 3)],
            ..Default::default()
        };
        m.apply(&s, 1_000);
        let text = m.render().expect("render");
        assert!(text.contains(r#"opsline_sla_timers_at_risk{level="II",timer="arrival"} 2"#), "{text}");
        assert!(text.contains(r#"opsline_sla_timers_breached{level="I",timer="callback"} 1"#), "{text}");
        assert!(text.contains(r#"opsline_sla_timers_breached{level="I",timer="plan"} 3"#), "{text}");
    }
}
