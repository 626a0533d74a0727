//! SLA timer rows: starting them, and applying what happens to a ticket (meet, pause, resume,
//! level change, reopen, auto-resolution, cancellation) through the pure replay in
//! `domain::sla`. Every change happens inside the caller's transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder,
};

use super::error::{Error, Result};
use super::versions::Versions;
use crate::domain::calendar::{Calendar, Secs};
use crate::domain::customer::Tier;
use crate::domain::escalation::{self, Subject, TimerWindow, share_point};
use crate::domain::level::Level;
use crate::domain::sla::{
    HistoryEntry, Outcome, PauseReason, SlaPolicy, Target, Targets, TimerKind, TimerState, change_level, replay,
};
use crate::metrics::{Fact, Tally};
use crate::persistence::entities::{customer, sla_timer, ticket};
use crate::services::tickets::Work;

mod frozen;
mod start;

pub use frozen::fill_figures;

pub use start::Start;
pub(crate) use start::{insert, plan, start};

/// The share of a timer's working time after which it counts as at risk.
const RISK_PERCENT: u32 = 80;

pub fn secs(t: DateTime<Utc>) -> Secs {
    t.timestamp()
}

/// The instant `s` seconds after the epoch. The calendar engine's instants (jiff's range, years
/// −9999 to 9999) all lie within chrono's; anything beyond saturates at chrono's bounds rather
/// than turning into some unrelated date.
pub fn utc(s: Secs) -> DateTime<Utc> {
    match Utc.timestamp_opt(s, 0).single() {
        Some(t) => t,
        None if s < 0 => DateTime::<Utc>::MIN_UTC,
        None => DateTime::<Utc>::MAX_UTC,
    }
}

/// A timer row with its parsed history and the calendar of its version.
#[derive(Debug, Clone)]
pub struct Timer {
    pub model: sla_timer::Model,
    pub kind: TimerKind,
    pub history: Vec<HistoryEntry>,
    pub calendar: Arc<Calendar>,
    pub target: Target,
    pub plan: Target,
    dirty: bool,
    /// Breached and finished as last counted into the metrics (see `take_facts`).
    counted: (bool, bool),
    /// Its outcome is in `timer_outcomes` (see `frozen::freeze`).
    frozen: bool,
}

impl Timer {
    pub async fn from_model(db: &impl ConnectionTrait, versions: &Versions, model: sla_timer::Model) -> Result<Self> {
        let calendar = versions.calendar(db, model.calendar_version_id).await?;
        let corrupt = |what: &str| Error::Internal(format!("sla_timers, row {}: unreadable `{what}`", model.id));
        Ok(Self {
            kind: model.kind,
            history: serde_json::from_str(&model.history).map_err(|_| corrupt("history"))?,
            target: model.target.parse().map_err(|_| corrupt("target"))?,
            plan: model.plan_target.parse().map_err(|_| corrupt("plan target"))?,
            calendar,
            counted: (model.breached, model.outcome.is_some()),
            frozen: model.outcome.is_some(),
            model,
            dirty: false,
        })
    }

    pub fn state(&self) -> TimerState {
        self.model.state
    }

    /// Unmet and not finished: running, paused, or breached and still running.
    pub fn is_active(&self) -> bool {
        self.model.outcome.is_none() && self.state().is_unmet_active()
    }

    pub fn due(&self) -> Option<Secs> {
        self.model.due_at.map(secs)
    }

    /// Breached by `now`, whether or not that has been recorded yet.
    pub fn breached_at(&self, now: Secs) -> bool {
        self.model.breached
            || (self.is_active() && self.state() != TimerState::Paused && self.due().is_some_and(|d| now > d))
    }

    /// Records a breach that has happened by `now` (the first second after `due_at`).
    /// Returns whether the timer changed.
    pub fn observe(&mut self, now: Secs) -> bool {
        if self.is_active() && !self.model.breached && self.breached_at(now) {
            self.model.breached = true;
            self.model.state = TimerState::Breached;
            self.dirty = true;
            return true;
        }
        false
    }

    /// Recomputes the cached deadline from start, targets and history.
    fn replay(&mut self, now: Secs) -> Result<()> {
        let start = secs(self.model.started_at);
        let r = replay(&self.calendar, self.kind, start, self.target, self.plan, &self.history)?;
        // A pause written ahead that begins after the deadline is a breach to come, not one yet.
        let past = self.history.partition_point(|e| e.at() <= now);
        let breached_by_history = if past < self.history.len() {
            replay(&self.calendar, self.kind, start, self.target, self.plan, &self.history[..past])?.breached
        } else {
            r.breached
        };
        let breached =
            self.model.breached || breached_by_history || (r.paused_at.is_none() && r.due.is_some_and(|d| now > d));
        self.model.due_at = r.due.map(utc);
        self.model.paused_at = r.paused_at.map(utc);
        self.model.remaining_secs = r.remaining;
        self.model.breached = breached;
        self.model.target = r.target.to_string();
        self.model.plan_target = r.plan.to_string();
        self.target = r.target;
        self.plan = r.plan;
        self.model.state = if r.paused_at.is_some() {
            TimerState::Paused
        } else if breached {
            TimerState::Breached
        } else {
            TimerState::Running
        };
        self.dirty = true;
        Ok(())
    }

    fn record(&mut self, entry: HistoryEntry, now: Secs) -> Result<()> {
        self.record_all([entry], now)
    }

    fn record_all(&mut self, entries: impl IntoIterator<Item = HistoryEntry>, now: Secs) -> Result<()> {
        for entry in entries {
            HistoryEntry::insert(&mut self.history, entry);
        }
        self.model.history = serde_json::to_string(&self.history).map_err(Error::internal)?;
        self.replay(now)
    }

    /// The reasons of the pauses begun by `at` and not yet resumed.
    pub fn pauses_in_force(&self, at: Secs) -> Vec<Option<PauseReason>> {
        let mut holding = Vec::new();
        for e in self.history.iter().take_while(|e| e.at() <= at) {
            match e {
                HistoryEntry::Pause { reason, .. } if !holding.contains(reason) => holding.push(*reason),
                HistoryEntry::Resume { reason, .. } => holding.retain(|h| h != reason),
                _ => {}
            }
        }
        holding
    }

    /// Ends every pause in force now (a timer met or ended while paused).
    fn resume_all(&mut self, now: Secs) -> Result<()> {
        let open = self.pauses_in_force(now);
        if open.is_empty() {
            return Ok(());
        }
        self.record_all(open.into_iter().map(|reason| HistoryEntry::Resume { at: now, reason }), now)
    }

    /// A visit's pause for `reason` from `from` to `to` (`None`: until resumed), written ahead
    /// when it lies in the future. Only an active, unbreached timer pauses.
    pub fn pause_for(&mut self, reason: PauseReason, from: Secs, to: Option<Secs>, now: Secs) -> Result<()> {
        self.observe(now);
        if !self.is_active() || self.model.breached || to.is_some_and(|to| to <= from) {
            return Ok(());
        }
        let reason = Some(reason);
        let mut entries = vec![HistoryEntry::Pause { at: from, reason }];
        entries.extend(to.map(|at| HistoryEntry::Resume { at, reason }));
        self.record_all(entries, now)
    }

    /// Ends the open pause for `reason` at `at` (now or later); nothing when there is none.
    pub fn resume_for(&mut self, reason: PauseReason, at: Secs, now: Secs) -> Result<()> {
        let open = self.pauses_in_force(Secs::MAX).contains(&Some(reason));
        if !self.is_active() || !open {
            return Ok(());
        }
        self.record(HistoryEntry::Resume { at: at.max(now), reason: Some(reason) }, now)
    }

    /// Takes back what has not happened yet of the pauses for `reason`: one not begun by `now`
    /// goes, one in force ends now (a cancelled visit's window).
    pub fn cut_pauses(&mut self, reason: PauseReason, now: Secs) -> Result<()> {
        if !self.is_active() {
            return Ok(());
        }
        let reason = Some(reason);
        let before = self.history.len();
        let mut began = false;
        let mut kept = Vec::with_capacity(before);
        let mut changed = false;
        for e in self.history.drain(..) {
            match e {
                HistoryEntry::Pause { at, reason: r } if r == reason => {
                    began = at <= now;
                    if began {
                        kept.push(e);
                    } else {
                        changed = true;
                    }
                }
                HistoryEntry::Resume { at, reason: r } if r == reason && at > now => {
                    changed = true;
                    if began {
                        kept.push(HistoryEntry::Resume { at: now, reason: r });
                    }
                }
                e => kept.push(e),
            }
        }
        kept.sort_by_key(HistoryEntry::at);
        self.history = kept;
        if !changed {
            return Ok(());
        }
        self.model.history = serde_json::to_string(&self.history).map_err(Error::internal)?;
        self.replay(now)
    }

    /// Met now. A paused timer is resumed first so that it has a deadline to be met against.
    pub fn meet(&mut self, now: Secs) -> Result<()> {
        self.meet_at(now, now, None)
    }

    /// Met at `at`, no later than `now` (an arrival made offline and sent later counts at the
    /// device's time). A breach seen only because the news came late is no breach; one already
    /// recorded — its notices sent — stays. `how` goes into the explain.
    pub fn meet_at(&mut self, at: Secs, now: Secs, how: Option<String>) -> Result<()> {
        if !self.is_active() {
            return Ok(());
        }
        let at = at.min(now).max(secs(self.model.started_at));
        if at < now && !self.counted.0 && self.model.breached {
            self.model.breached = false;
            self.model.state = TimerState::Running;
        }
        self.observe(at);
        self.resume_all(at)?;
        if let Some(note) = how {
            self.record(HistoryEntry::Met { at, note }, at)?;
        }
        let now = at;
        let late = self.model.breached || self.due().is_some_and(|d| now > d);
        self.model.met_at = Some(utc(now));
        self.model.breached = late;
        self.model.state = TimerState::Met;
        self.model.outcome = Some(if late { Outcome::Late } else { Outcome::InTime });
        self.model.finished_at = Some(utc(now));
        self.model.remaining_secs = None;
        self.model.paused_at = None;
        self.dirty = true;
        Ok(())
    }

    /// Ends an unmet timer without meeting it: breached ones stay breached, the others end with
    /// `outcome` (`auto_resolved` or `cancelled`).
    pub fn end(&mut self, outcome: Outcome, now: Secs) -> Result<()> {
        if !self.is_active() {
            return Ok(());
        }
        self.observe(now);
        self.resume_all(now)?;
        let (state, outcome) = if self.model.breached {
            (TimerState::Breached, Outcome::Breached)
        } else if outcome == Outcome::Cancelled {
            (TimerState::Cancelled, Outcome::Cancelled)
        } else {
            (TimerState::AutoResolved, Outcome::AutoResolved)
        };
        self.model.state = state;
        self.model.outcome = Some(outcome);
        self.model.finished_at = Some(utc(now));
        self.model.remaining_secs = None;
        self.dirty = true;
        Ok(())
    }

    /// Waiting for the customer: pauses an active, unbreached timer (already paused for a visit,
    /// it stays paused until both pauses end).
    pub fn pause(&mut self, now: Secs) -> Result<()> {
        self.observe(now);
        if self.is_active() && !self.model.breached && !self.pauses_in_force(now).contains(&None) {
            self.record(HistoryEntry::pause(now), now)?;
        }
        Ok(())
    }

    /// The end of a wait for the customer.
    pub fn resume(&mut self, now: Secs) -> Result<()> {
        if self.is_active() && self.pauses_in_force(now).contains(&None) {
            self.record(HistoryEntry::resume(now), now)?;
        }
        Ok(())
    }

    /// Re-targets an unmet, unbreached timer to `to`'s targets in its own policy version.
    pub fn retarget(&mut self, policy: &SlaPolicy, from: Level, to: Level, now: Secs) -> Result<()> {
        self.observe(now);
        if !self.is_active() || self.model.breached {
            return Ok(());
        }
        // A level without an arrival target leaves the arrival timer on the one it has.
        let new_target = policy.target(to, self.kind).unwrap_or(self.target);
        let new_plan = policy.target(to, TimerKind::Plan).unwrap_or(self.plan);
        let before = Targets { target: self.target, plan: self.plan };
        let after = Targets { target: new_target, plan: new_plan };
        if !change_level(&mut self.history, now, (from, to), before, after) {
            return Ok(());
        }
        self.model.level = to;
        self.model.history = serde_json::to_string(&self.history).map_err(Error::internal)?;
        self.replay(now)
    }

    /// Replays the timer on another calendar version (a calendar change). A breach is never
    /// cleared: a breached timer keeps its deadline.
    pub fn recompute_on(&mut self, calendar: Arc<Calendar>, calendar_version_id: i64, now: Secs) -> Result<()> {
        self.observe(now);
        self.calendar = calendar;
        self.model.calendar_version_id = calendar_version_id;
        self.dirty = true;
        if self.is_active() && !self.model.breached { self.replay(now) } else { Ok(()) }
    }

    /// When a running, unbreached timer becomes at risk: 80 % of the working time from its start
    /// to its deadline gone (the point an `at = "80%"` warning fires).
    pub(crate) fn risk_at(&self) -> Result<Option<DateTime<Utc>>> {
        match (self.is_active(), self.model.breached, self.due()) {
            (true, false, Some(due)) if self.state() == TimerState::Running => {
                Ok(Some(utc(share_point(&self.calendar, secs(self.model.started_at), due, RISK_PERCENT)?)))
            }
            _ => Ok(None),
        }
    }

    /// What changed since the metrics last counted this timer — a breach, an end — as facts for
    /// the caller's tally, counted once the transaction commits.
    pub fn take_facts(&mut self, tier: Tier, tally: &mut Tally) {
        let (level, timer) = (self.model.level, self.kind);
        if self.model.breached && !self.counted.0 {
            tally.push(Fact::Breached { level, timer, tier });
        }
        if let (Some(outcome), false) = (self.model.outcome, self.counted.1) {
            tally.push(Fact::Finished {
                level,
                timer,
                tier,
                outcome,
                met_after_secs: self.model.met_at.map(|m| (m - self.model.started_at).num_seconds()),
            });
        }
        let (breached, finished) = (self.model.breached, self.model.outcome.is_some());
        self.counted = (breached, finished);
    }

    /// Whether `take_facts` has something to say.
    pub fn has_facts(&self) -> bool {
        (self.model.breached && !self.counted.0) || (self.model.outcome.is_some() && !self.counted.1)
    }

    /// Writes the timer if it changed; true when it did.
    pub async fn save(&mut self, db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<bool> {
        if !self.dirty {
            return Ok(false);
        }
        // A changed timer is looked at again by the next sweep, which schedules its firings.
        self.model.next_fire_at = (self.is_active() && self.state() != TimerState::Paused).then_some(now);
        self.model.risk_at = self.risk_at()?;
        self.model.updated_at = now;
        let mut am = self.model.clone().into_active_model();
        for c in [
            sla_timer::Column::Level,
            sla_timer::Column::Target,
            sla_timer::Column::PlanTarget,
            sla_timer::Column::CalendarVersionId,
            sla_timer::Column::State,
            sla_timer::Column::DueAt,
            sla_timer::Column::PausedAt,
            sla_timer::Column::RemainingSecs,
            sla_timer::Column::Breached,
            sla_timer::Column::MetAt,
            sla_timer::Column::Outcome,
            sla_timer::Column::FinishedAt,
            sla_timer::Column::History,
            sla_timer::Column::NextFireAt,
            sla_timer::Column::RiskAt,
            sla_timer::Column::UpdatedAt,
        ] {
            am.reset(c);
        }
        self.model = am.update(db).await?;
        self.dirty = false;
        if self.model.outcome.is_some() && !self.frozen {
            frozen::freeze(db, self).await?;
            self.frozen = true;
        }
        Ok(true)
    }
}

/// The current cycle of each kind of a ticket's timers.
pub async fn load_current(db: &impl ConnectionTrait, versions: &Versions, ticket_id: i64) -> Result<Vec<Timer>> {
    let rows = sla_timer::Entity::find()
        .filter(sla_timer::Column::TicketId.eq(ticket_id))
        .order_by_asc(sla_timer::Column::Cycle)
        .all(db)
        .await?;
    let mut latest: BTreeMap<TimerKind, sla_timer::Model> = BTreeMap::new();
    for r in rows {
        latest.insert(r.kind, r);
    }
    let mut out = Vec::with_capacity(TimerKind::ALL.len());
    for kind in TimerKind::ALL {
        if let Some(m) = latest.remove(&kind) {
            out.push(Timer::from_model(db, versions, m).await?);
        }
    }
    Ok(out)
}

/// Urgency and the breached flag, denormalised onto the ticket for `sort=urgency` and
/// `breached=` filters (docs/sla.md §8): running or breached timers by earliest deadline first, then
/// tickets whose timers are all paused by remaining working time, then the rest.
pub fn urgency(timers: &[Timer], now: Secs) -> (i16, i64, bool) {
    let active: Vec<&Timer> = timers.iter().filter(|t| t.is_active()).collect();
    let breached = timers.iter().any(|t| t.breached_at(now));
    if let Some(due) = active.iter().filter(|t| t.state() != TimerState::Paused).filter_map(|t| t.due()).min() {
        return (0, due, breached);
    }
    if let Some(rem) = active.iter().filter_map(|t| t.model.remaining_secs).min() {
        return (1, rem, breached);
    }
    (2, 0, breached)
}

/// Writes the ticket's urgency fields from its current timers (any cycle breached counts).
pub async fn refresh_urgency(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    timers: &[Timer],
    now: DateTime<Utc>,
) -> Result<()> {
    let (bucket, key, breached_now) = urgency(timers, secs(now));
    let ever_breached = breached_now
        || sla_timer::Entity::find()
            .filter(sla_timer::Column::TicketId.eq(ticket_id))
            .filter(sla_timer::Column::Breached.eq(true))
            .one(db)
            .await?
            .is_some();
    ticket::Entity::update_many()
        .col_expr(ticket::Column::UrgencyBucket, sea_orm::sea_query::Expr::value(bucket))
        .col_expr(ticket::Column::UrgencyKey, sea_orm::sea_query::Expr::value(key))
        .col_expr(ticket::Column::Breached, sea_orm::sea_query::Expr::value(ever_breached))
        .filter(ticket::Column::Id.eq(ticket_id))
        .exec(db)
        .await?;
    Ok(())
}
