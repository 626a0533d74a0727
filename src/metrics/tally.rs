//! What one unit of work did, collected inside its transaction and counted into the metrics only
//! after that transaction committed — a rolled-back attempt counts nothing.

use super::Metrics;
use crate::domain::customer::Tier;
use crate::domain::escalation::On;
use crate::domain::level::Level;
use crate::domain::sla::{Outcome, TimerKind};
use crate::domain::ticket::Source;

#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Opened {
        level: Level,
        source: Source,
        tier: Tier,
    },
    /// A timer ended; `met_after_secs` is set when it was met.
    Finished {
        level: Level,
        timer: TimerKind,
        tier: Tier,
        outcome: Outcome,
        met_after_secs: Option<i64>,
    },
    Breached {
        level: Level,
        timer: TimerKind,
        tier: Tier,
    },
    Escalation {
        on: On,
        timer: Option<TimerKind>,
        level: Level,
    },
    /// A knowledge-base outcome recorded inside a ticket change (`solved_by`).
    Knowledge(crate::domain::kb::KbOutcome),
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

impl Metrics {
    /// Counts a committed unit of work. Every label is a fixed enumeration.
    pub fn record(&self, tally: Tally) {
        for f in tally.facts {
            match f {
                Fact::Opened { level, source, tier } => {
                    self.opened.with_label_values(&[level.as_str(), source.as_str(), tier.as_str()]).inc();
                }
                Fact::Finished { level, timer, tier, outcome, met_after_secs } => {
                    let (l, k) = (level.as_str(), timer.as_str());
                    self.finished.with_label_values(&[l, k, tier.as_str(), outcome.as_str()]).inc();
                    if let Some(s) = met_after_secs {
                        self.time_to_met.with_label_values(&[l, k]).observe(s.max(0) as f64);
                    }
                }
                Fact::Breached { level, timer, tier } => {
                    self.breaches.with_label_values(&[level.as_str(), timer.as_str(), tier.as_str()]).inc();
                }
                Fact::Escalation { on, timer, level } => {
                    let k = timer.map_or("none", TimerKind::as_str);
                    self.escalations.with_label_values(&[on.as_str(), k]).inc();
                    if let (Some(timer), On::Warning) = (timer, on) {
                        self.warnings.with_label_values(&[level.as_str(), timer.as_str()]).inc();
                    }
                }
                Fact::Knowledge(outcome) => self.kb(outcome, 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_facts_count_under_their_labels() {
        let m = Metrics::new("t").expect("registry");
        let mut t = Tally::default();
        t.push(Fact::Breached { level: Level::I, timer: TimerKind::Response, tier: Tier::Vip });
        t.push(Fact::Breached { level: Level::I, timer: TimerKind::Response, tier: Tier::Vip });
        t.push(Fact::Escalation { on: On::Warning, timer: Some(TimerKind::Plan), level: Level::II });
        t.push(Fact::Finished {
            level: Level::III,
            timer: TimerKind::Resolution,
            tier: Tier::Standard,
            outcome: Outcome::InTime,
            met_after_secs: Some(90),
        });
        m.record(t);
        let text = m.render().expect("render");
        assert!(text.contains(r#"opsline_sla_breaches_total{level="I",tier="vip",timer="response"} 2"#));
        assert!(text.contains(r#"opsline_sla_warnings_total{level="II",timer="plan"} 1"#));
        assert!(text.contains(r#"opsline_escalations_total{on="warning",timer="plan"} 1"#));
        assert!(text.contains(r#"opsline_sla_time_to_met_seconds_bucket{level="III",timer="resolution",le="180"} 1"#));
        assert!(text.contains(r#"opsline_sla_time_to_met_seconds_bucket{level="III",timer="resolution",le="60"} 0"#));
    }
}
