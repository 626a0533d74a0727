//! A check's health from its stream of results: thresholds with hysteresis (so that one bad probe
//! opens nothing and one good probe closes nothing), and flapping — too many state flips in a
//! window. Pure: results and `now` come in, transitions come out; the caller stores the tracker.

use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// What a check is, or what one probe said.
    pub enum Health ("check health") {
        /// No verdict yet, or the probe could not tell (self-gating, maintenance).
        Unknown = "unknown",
        Up = "up",
        Down = "down",
    }
}

crate::text_enum! {
    /// The length of a check-rollup bucket (`check_rollups.period`). Ordered as the stored
    /// names are, so a batch writes its rollup rows in the order it always has.
    #[derive(PartialOrd, Ord)]
    pub enum RollupPeriod ("rollup period") {
        Day = "day",
        Minute = "minute",
    }
}

crate::text_enum! {
    /// Where a one-click inspection stands.
    pub enum InspectionStatus ("inspection status") {
        Running = "running",
        /// Every check up.
        Passed = "passed",
        /// Some check down.
        Failed = "failed",
        /// None down, some unknown.
        Inconclusive = "inconclusive",
    }
}

impl InspectionStatus {
    /// The statuses an inspection finishes with.
    pub const FINISHED: [InspectionStatus; 3] =
        [InspectionStatus::Passed, InspectionStatus::Failed, InspectionStatus::Inconclusive];
}

/// What one probe said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The result does not count either way (the prober itself is cut off).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failure: u32,
    pub success: u32,
    /// More than this many flips within `flap_window_secs` is flapping.
    pub flap_flips: u32,
    pub flap_window_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tracker {
    pub failures: u32,
    pub successes: u32,
    /// When the health flipped between up and down, newest last, within the flap window.
    pub flips: Vec<i64>,
    pub flapping: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    WentDown,
    Recovered,
    /// The first verdict of a check that was unknown: nothing to tell anybody.
    BecameUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub health: Health,
    pub transition: Transition,
    /// True exactly when this result made the check flapping.
    pub started_flapping: bool,
}

impl Tracker {
    /// Folds one verdict into the tracker, given the health before it.
    pub fn observe(&mut self, health: Health, verdict: Verdict, t: &Thresholds, now: i64) -> Step {
        let (mut next, mut transition) = (health, Transition::None);
        match verdict {
            Verdict::Unknown => {}
            Verdict::Pass => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                match health {
                    Health::Unknown => (next, transition) = (Health::Up, Transition::BecameUp),
                    Health::Down if self.successes >= t.success => {
                        (next, transition) = (Health::Up, Transition::Recovered)
                    }
                    _ => {}
                }
            }
            Verdict::Fail => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                if health != Health::Down && self.failures >= t.failure {
                    (next, transition) = (Health::Down, Transition::WentDown);
                }
            }
        }
        if matches!(transition, Transition::WentDown | Transition::Recovered) {
            self.flips.push(now);
        }
        self.flips.retain(|f| now - f < t.flap_window_secs);
        let was = self.flapping;
        self.flapping = self.flips.len() as u32 > t.flap_flips;
        Step { health: next, transition, started_flapping: self.flapping && !was }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { failure: 3, success: 2, flap_flips: 4, flap_window_secs: 3600 };

    fn run(tr: &mut Tracker, mut h: Health, verdicts: &str, t0: i64) -> (Health, Vec<Transition>) {
        let mut seen = Vec::new();
        for (i, c) in verdicts.chars().enumerate() {
            let v = match c {
                '+' => Verdict::Pass,
                '-' => Verdict::Fail,
                _ => Verdict::Unknown,
            };
            let s = tr.observe(h, v, &T, t0 + i as i64 * 60);
            h = s.health;
            if s.transition != Transition::None {
                seen.push(s.transition);
            }
        }
        (h, seen)
    }

    #[test]
    fn it_goes_down_after_the_failure_threshold_and_up_after_the_success_threshold() {
        let mut tr = Tracker::default();
        let (h, seen) = run(&mut tr, Health::Unknown, "+--+---", 0);
        assert_eq!(h, Health::Down);
        assert_eq!(seen, vec![Transition::BecameUp, Transition::WentDown]);
        let (h, seen) = run(&mut tr, h, "+-++", 1000);
        assert_eq!(h, Health::Up);
        assert_eq!(seen, vec![Transition::Recovered]);
    }

    #[test]
    fn unknown_results_neither_count_nor_reset() {
        let mut tr = Tracker::default();
        let (h, seen) = run(&mut tr, Health::Up, "--?-", 0);
        assert_eq!(h, Health::Down);
        assert_eq!(seen, vec![Transition::WentDown]);
    }

    #[test]
    fn more_flips_than_allowed_in_the_window_is_flapping_once() {
        let mut tr = Tracker::default();
        let mut h = Health::Up;
        let mut started = 0;
        for round in 0..4 {
            for (i, v) in
                [Verdict::Fail, Verdict::Fail, Verdict::Fail, Verdict::Pass, Verdict::Pass].into_iter().enumerate()
            {
                let s = tr.observe(h, v, &T, round * 300 + i as i64 * 10);
                h = s.health;
                started += usize::from(s.started_flapping);
            }
        }
        assert!(tr.flapping);
        assert_eq!(started, 1);
        // Quiet for longer than the window: no longer flapping.
        let s = tr.observe(h, Verdict::Pass, &T, 10_000);
        assert!(!s.started_flapping);
        assert!(!tr.flapping);
    }
}
