//! Rate limits, per instance and per key — a client address, or an account (`[limits]`): sign-in,
//! creating API tokens, the intake endpoints, and failed authentications (a guessed token is
//! answered 429 once an address has failed too often; valid tokens still pass). Several instances
//! each allow as much. The HTTP layer decides what the key of a request is.
//!
//! Beside them, failed sign-ins per account (`FailedSignIns`): only failures count, and once an
//! account has `limits.failed_sign_ins_per_account` of them within `FAILED_SIGN_IN_WINDOW`, every
//! attempt on it — the right password included — waits until the oldest failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

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
    /// Failed sign-ins per account.
    pub failed_sign_ins: FailedSignIns,
    /// `http.trusted_proxies`: whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<IpNet>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    pub fn new(s: &LimitSettings, trusted_proxies: Vec<IpNet>) -> Self {
        Limits {
            failed_sign_ins: FailedSignIns::new(s.failed_sign_ins_per_account),
            trusted_proxies,
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
            Limit::SignIn => (&self.sign_in, "sign-in attempts from this address"),
            Limit::TokenCreation => (&self.tokens, "token requests from this address"),
            Limit::Intake => (&self.intake, "intake requests from this address"),
            Limit::FailedAuth => (&self.failed_auth, "failed authentications from this address"),
        };
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Spent { what, retry_after_secs: wait.as_secs() + 1 }
        })
    }

    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// Forgets addresses whose budgets are full again (called now and then, bounding memory).
    pub fn forget_idle(&self) {
        self.failed_sign_ins.forget_idle(Instant::now());
        self.sign_in.retain_recent();
        self.tokens.retain_recent();
        self.intake.retain_recent();
        self.failed_auth.retain_recent();
    }
}

/// How long a failed sign-in counts against its account.
pub const FAILED_SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Accounts tracked at most; past it the quietest are forgotten first (a flood of made-up names
/// cannot grow memory without bound).
const ACCOUNTS_TRACKED: usize = 100_000;

/// Failed sign-ins per account name (a username or a contact's e-mail, lower-cased).
pub struct FailedSignIns {
    allowed: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailedSignIns {
    pub fn new(allowed: u32) -> Self {
        FailedSignIns { allowed: allowed.max(1) as usize, failures: Mutex::new(HashMap::new()) }
    }

    fn key(account: &str) -> String {
        account.trim().to_lowercase()
    }

    /// Whether `account` may try now; when not, how many seconds until it may.
    pub fn check(&self, account: &str, now: Instant) -> Result<(), Spent> {
        let Ok(mut map) = self.failures.lock() else { return Ok(()) };
        let Some(times) = map.get_mut(&Self::key(account)) else { return Ok(()) };
        while times.front().is_some_and(|t| now.duration_since(*t) >= FAILED_SIGN_IN_WINDOW) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= self.allowed => {
                let wait = FAILED_SIGN_IN_WINDOW.saturating_sub(now.duration_since(*oldest));
                Err(Spent { what: "failed sign-ins for this account", retry_after_secs: wait.as_secs() + 1 })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in against `account`.
    pub fn failed(&self, account: &str, now: Instant) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() >= ACCOUNTS_TRACKED {
            map.retain(|_, t| t.back().is_some_and(|last| now.duration_since(*last) < FAILED_SIGN_IN_WINDOW));
        }
        if map.len() >= ACCOUNTS_TRACKED {
            return;
        }
        let times = map.entry(Self::key(account)).or_default();
        times.push_back(now);
        while times.len() > self.allowed {
            times.pop_front();
        }
    }

    /// Forgets accounts whose failures have all left the window.
    pub fn forget_idle(&self, now: Instant) {
        if let Ok(mut map) = self.failures.lock() {
            map.retain(|_, t| t.back().is_some_and(|last| now.duration_since(*last) < FAILED_SIGN_IN_WINDOW));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_waits_after_its_failures_and_only_failures_count() {
        let f = FailedSignIns::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(f.check("Ops@Example.com", t0).is_ok(), "attempt {i}");
            f.failed("ops@example.com ", t0 + Duration::from_secs(i));
        }
        let spent = f.check("OPS@example.com", t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(spent.retry_after_secs, 15 * 60 - 10 + 1);
        assert!(f.check("someone-else", t0).is_ok());
        // The oldest failure leaves the window: one more attempt.
        assert!(f.check("ops@example.com", t0 + FAILED_SIGN_IN_WINDOW).is_ok());
        f.forget_idle(t0 + FAILED_SIGN_IN_WINDOW + Duration::from_secs(3));
        assert!(f.failures.lock().unwrap().is_empty());
    }
}
