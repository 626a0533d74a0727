//! What one unit of work did, collected inside its transaction and counted into the metrics only
//! after that transaction committed — a rolled-back attempt counts nothing.

use super::{LEVELS, Metrics, ON, OUTCOMES, SOURCES, TIERS, TIMERS};

#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Opened {
        level: String,
        source: String,
        tier: String,
    },
    /// A timer ended; `met_after_secs` is set when it was met.
    Finished {
        level: String,
        timer: String,
        tier: String,
        outcome: String,
        met_after_secs: Option<i64>,
    },
    Breached {
        level: String,
        timer: String,
        tier: String,
    },
    Escalation {
        on: String,
        timer: Option<String>,
        level: String,
    },
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    facts: Vec<Fact>,
}

impl Tally {
    pub fn push(&mut self, fact: Fact) {
        self.facts.push(fact);
    }

    pub fn facts(&self) -> &[Fact] {
        &self.facts
    }

    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// Whether escalation events fired (and so notifications may wait in the outbox).
    pub fn has_escalations(&self) -> bool {
        self.facts.iter().any(|f| matches!(f, Fact::Escalation { .. }))
    }

    /// Moves another unit's facts into this one.
    pub fn absorb(&mut self, other: Tally) {
        self.facts.extend(other.facts);
    }
}

/// A label value from a fixed set; anything else (which the code never produces) is dropped
/// rather than let an unbounded value into a label.
fn known<'a>(v: &'a str, set: &[&str]) -> Option<&'a str> {
    set.contains(&v).then_some(v)
}

impl Metrics {
    /// Counts a committed unit of work.
    pub fn record(&self, tally: Tally) {
        for f in tally.facts {
            match f {
                Fact::Opened { level, source, tier } => {
                    if let (Some(l), Some(s), Some(t)) =
                        (known(&level, &LEVELS), known(&source, &SOURCES), known(&tier, &TIERS))
                    {
                        self.opened.with_label_values(&[l, s, t]).inc();
                    }
                }
                Fact::Finished { level, timer, tier, outcome, met_after_secs } => {
                    if let (Some(l), Some(k), Some(t), Some(o)) = (
                        known(&level, &LEVELS),
                        known(&timer, &TIMERS),
                        known(&tier, &TIERS),
                        known(&outcome, &OUTCOMES),
                    ) {
                        self.finished.with_label_values(&[l, k, t, o]).inc();
                        if let Some(s) = met_after_secs {
                            self.time_to_met.with_label_values(&[l, k]).observe(s.max(0) as f64);
                        }
                    }
                }
                Fact::Breached { level, timer, tier } => {
                    if let (Some(l), Some(k), Some(t)) =
                        (known(&level, &LEVELS), known(&timer, &TIMERS), known(&tier, &TIERS))
                    {
                        self.breaches.with_label_values(&[l, k, t]).inc();
                    }
                }
                Fact::Escalation { on, timer, level } => {
                    let Some(o) = known(&on, &ON) else { continue };
                    let k = timer.as_deref().and_then(|t| known(t, &TIMERS));
                    self.escalations.with_label_values(&[o, k.unwrap_or("none")]).inc();
                    if let (Some(k), "warning", Some(l)) = (k, o, known(&level, &LEVELS)) {
                        self.warnings.with_label_values(&[l, k]).inc();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_facts_count_and_unknown_label_values_are_dropped() {
        let m = Metrics::new("t").expect("registry");
        let mut t = Tally::default();
        t.push(Fact::Breached { level: "I".into(), timer: "response".into(), tier: "vip".into() });
        t.push(Fact::Breached { level: "I".into(), timer: "response".into(), tier: "vip".into() });
        t.push(Fact::Breached { level: "ticket-42".into(), timer: "response".into(), tier: "vip".into() });
        t.push(Fact::Escalation { on: "warning".into(), timer: Some("plan".into()), level: "II".into() });
        t.push(Fact::Finished {
            level: "III".into(),
            timer: "resolution".into(),
            tier: "standard".into(),
            outcome: "in_time".into(),
            met_after_secs: Some(90),
        });
        m.record(t);
        let text = m.render().expect("render");
        assert!(text.contains(r#"opsline_sla_breaches_total{level="I",tier="vip",timer="response"} 2"#));
        assert!(!text.contains("ticket-42"));
        assert!(text.contains(r#"opsline_sla_warnings_total{level="II",timer="plan"} 1"#));
        assert!(text.contains(r#"opsline_escalations_total{on="warning",timer="plan"} 1"#));
        assert!(text.contains(r#"opsline_sla_time_to_met_seconds_bucket{level="III",timer="resolution",le="180"} 1"#));
        assert!(text.contains(r#"opsline_sla_time_to_met_seconds_bucket{level="III",timer="resolution",le="60"} 0"#));
    }
}
