//! SLA policies: per level, the target of each timer, and which timers a wait for the customer
//! does not pause.

use crate::domain::level::Level;

use super::{Target, TimerKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelTargets {
    pub response: Target,
    pub plan: Target,
    pub resolution: Target,
    /// On-site arrival; a level without it starts no arrival timer.
    pub arrival: Option<Target>,
    /// The follow-up call after a low rating; a level without it starts no callback timer.
    pub callback: Option<Target>,
}

impl LevelTargets {
    /// The target of `kind`; `None` for a timer this level does not have.
    pub fn get(&self, kind: TimerKind) -> Option<Target> {
        match kind {
            TimerKind::Response => Some(self.response),
            TimerKind::Plan => Some(self.plan),
            TimerKind::Resolution => Some(self.resolution),
            TimerKind::Arrival => self.arrival,
            TimerKind::Callback => self.callback,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicy {
    pub pause_exempt: Vec<TimerKind>,
    /// Indexed by [`Level::index`].
    pub levels: [LevelTargets; 4],
}

impl SlaPolicy {
    pub fn targets(&self, level: Level) -> LevelTargets {
        self.levels[level.index()]
    }

    pub fn target(&self, level: Level, kind: TimerKind) -> Option<Target> {
        self.targets(level).get(kind)
    }

    pub fn pauses(&self, kind: TimerKind) -> bool {
        !self.pause_exempt.contains(&kind)
    }

    /// The service standard of docs/sla.md §1.
    pub fn standard() -> Self {
        let t = |r: i64, p: i64, res: Target| LevelTargets {
            response: Target::Working(r),
            plan: Target::Working(p),
            resolution: res,
            arrival: None,
            callback: None,
        };
        Self {
            pause_exempt: Vec::new(),
            levels: [
                t(600, 1800, Target::EndOfDay),
                t(600, 3600, Target::Days(1)),
                t(600, 7200, Target::Days(3)),
                t(600, 7200, Target::Days(5)),
            ],
        }
    }
}
