//! The application's clock: the system clock in production, a manual one that tests move by hand
//! (README: PostgreSQL and several instances). There is no HTTP way to set it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, Utc};

#[derive(Clone, Debug)]
pub enum Clock {
    System,
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock::Manual(Arc::new(Mutex::new(start)))
    }

    /// Now, truncated to whole seconds: every instant the SLA engine sees is a whole second.
    pub fn now(&self) -> DateTime<Utc> {
        let t = match self {
            Clock::System => Utc::now(),
            Clock::Manual(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        };
        t.duration_trunc(Duration::seconds(1)).unwrap_or(t)
    }

    /// Now, with sub-second precision: for deciding how long to sleep until a whole-second
    /// instant, so that a loop wakes as that second begins rather than up to a second late.
    pub fn now_precise(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Sets a manual clock; the system clock ignores it.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Clock::Manual(t) = self {
            *t.lock().unwrap_or_else(|p| p.into_inner()) = to;
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let mut g = t.lock().unwrap_or_else(|p| p.into_inner());
            *g += by;
        }
    }
}
