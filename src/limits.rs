//! Rate limits, per instance and per key — a client address, or an account (`[limits]`): sign-in,
//! creating API tokens, the intake endpoints, and failed authentications (a guessed token is
//! answered 429 once an address has failed too often; valid tokens still pass). Several instances
//! each allow as much. The HTTP layer decides what the key of a request is.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::settings::LimitSettings;

type Keyed = RateLimiter<String, HashMapStateStore<String>, DefaultClock>;

/// A budget spent: what, and in how many seconds it allows one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    pub what: &'static str,
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    SignIn,
    TokenCreation,
    Intake,
    FailedAuth,
}

pub struct Limits {
    sign_in: Keyed,
    tokens: Keyed,
    intake: Keyed,
    failed_auth: Keyed,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    pub fn new(s: &LimitSettings) -> Self {
        Limits {
            sign_in: RateLimiter::hashmap(per_minute(s.sign_in_per_minute)),
            tokens: RateLimiter::hashmap(per_minute(s.token_creation_per_minute)),
            intake: RateLimiter::hashmap(per_minute(s.intake_per_minute)),
            failed_auth: RateLimiter::hashmap(per_minute(s.failed_auth_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one from `which`'s budget of `key`.
    pub fn take(&self, which: Limit, key: &str) -> Result<(), Spent> {
        let (limiter, what) = match which {
            Limit::SignIn => (&self.sign_in, "sign-in attempts"),
            Limit::TokenCreation => (&self.tokens, "token requests"),
            Limit::Intake => (&self.intake, "intake requests"),
            Limit::FailedAuth => (&self.failed_auth, "failed authentications"),
        };
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Spent { what, retry_after_secs: wait.as_secs() + 1 }
        })
    }

    /// Forgets addresses whose budgets are full again (called now and then, bounding memory).
    pub fn forget_idle(&self) {
        self.sign_in.retain_recent();
        self.tokens.retain_recent();
        self.intake.retain_recent();
        self.failed_auth.retain_recent();
    }
}
