//! Running checks: the interval runner claims due checks through the database (a conditional
//! update with a lease, plus `SKIP LOCKED` on PostgreSQL), so each runs once per interval across
//! all instances; probes run with no transaction open; results are stored with the checks' new
//! health in batches of a few statements; then the outage effects follow (tickets, events).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use sha2::{Digest, Sha256};

use super::super::error::{Error, Result};
use super::outage;
use super::rollup;
use super::store::{ResultView, def_of, tracker_of};
use crate::checks::probe::ProbeResult;
use crate::checks::spec::{CheckDef, CheckKind};
use crate::domain::check::conditions::{Observation, Unmet};
use crate::domain::check::health::{Health, RollupPeriod, Step, Thresholds, Transition, Verdict};
use crate::domain::check::maintenance::in_maintenance;
use crate::persistence::check_bulk::{self, CheckUpdate, RollupAdd};
use crate::persistence::entities::{check, check_result};
use crate::persistence::pick_ids;
use crate::services::timers::secs;
use crate::state::AppState;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub ran: usize,
    pub failed: usize,
    pub opened: usize,
}

/// A heartbeat check passes while the last beat is younger than its interval.
fn heartbeat(row: &check::Model, def: &CheckDef, now: DateTime<Utc>) -> ProbeResult {
    let period = def.interval_secs.unwrap_or(60);
    let since = row.last_beat_at.unwrap_or(row.created_at);
    let silent = (now - since).num_seconds();
    let pass = row.last_beat_at.is_some() && silent < period;
    ProbeResult {
        verdict: if pass { Verdict::Pass } else { Verdict::Fail },
        duration_ms: 0,
        unmet: (!pass).then(|| Unmet {
            condition: format!("a heartbeat at least every {}", def.spec.interval.as_deref().unwrap_or("")),
            observed: match row.last_beat_at {
                Some(_) => format!("silent for {silent}s"),
                None => "no heartbeat yet".into(),
            },
        }),
        error: None,
        observation: Observation::default(),
    }
}

/// Runs one check now (heartbeats: judges the silence).
pub async fn probe(state: &AppState, row: &check::Model, def: &CheckDef, now: DateTime<Utc>) -> ProbeResult {
    match def.spec.kind {
        CheckKind::Heartbeat => heartbeat(row, def, now),
        kind => {
            let r = state.prober.run(def, secs(now)).await;
            if kind == CheckKind::Exporter {
                // The inventory: what the host was seen to be.
                if let Err(e) = super::hosts::seen(state, row.id, &r.observation.series, now).await {
                    tracing::warn!(check = %row.name, error = %crate::services::chain(&e), "host facts not kept");
                }
            }
            r
        }
    }
}

/// When the runner should run the check next.
fn next_run(row: &check::Model, def: &CheckDef, failing: bool, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let interval = def.interval_secs?;
    if def.spec.kind == CheckKind::Heartbeat {
        let base = row.last_beat_at.unwrap_or(now).max(now - Duration::seconds(interval));
        let wait = if failing { def.retry_interval_secs.unwrap_or(interval) } else { interval };
        return Some((base + Duration::seconds(interval)).max(now + Duration::seconds(if failing { wait } else { 1 })));
    }
    if failing && let Some(retry) = def.retry_interval_secs {
        return Some(now + Duration::seconds(retry));
    }
    Some(on_grid(&row.name, interval, now))
}

/// The first instant after `now` on the check's own grid: every `interval`, shifted by a phase
/// taken from its name. Fixed rate (a late run does not push the next one back), and checks with
/// the same interval spread over it instead of all starting in the same millisecond.
fn on_grid(name: &str, interval_secs: i64, now: DateTime<Utc>) -> DateTime<Utc> {
    let period = interval_secs.max(1) * 1000;
    let digest = Sha256::digest(name.as_bytes());
    let phase =
        (u64::from_be_bytes([digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]])
            % period as u64) as i64;
    let t = now.timestamp_millis();
    let next = phase + ((t - phase).div_euclid(period) + 1) * period;
    DateTime::from_timestamp_millis(next).unwrap_or(now + Duration::seconds(interval_secs))
}

fn thresholds(state: &AppState, def: &CheckDef) -> Thresholds {
    Thresholds {
        failure: def.spec.failure_threshold,
        success: def.spec.success_threshold,
        flap_flips: state.config.settings.checks.flap_flips,
        flap_window_secs: state.config.runtime.checks.flap_window_secs,
    }
}

/// Whether the canaries all fail now, so that no result can be trusted (`gating.canaries`).
pub async fn gated(state: &AppState) -> Result<bool> {
    let canaries = &state.config.settings.gating.canaries;
    if canaries.is_empty() {
        return Ok(false);
    }
    let rows = check::Entity::find().filter(check::Column::Name.is_in(canaries.clone())).all(&state.db).await?;
    Ok(!rows.is_empty() && rows.iter().all(|r| tracker_of(r).failures > 0))
}

/// Claims up to `checks.batch` due interval checks with a lease.
pub async fn claim(state: &AppState, now: DateTime<Utc>) -> Result<Vec<check::Model>> {
    let settings = &state.config.settings.checks;
    let lease = now + Duration::seconds(settings.lease_secs as i64);
    let due = || {
        Condition::all()
            .add(check::Column::NextRunAt.lte(now))
            .add(Condition::any().add(check::Column::LockedUntil.is_null()).add(check::Column::LockedUntil.lt(now)))
    };
    // The batch's ids, then the claim of exactly those rows (see `pick_ids`).
    let claim = |ids: Vec<i64>| {
        check::Entity::update_many()
            .col_expr(check::Column::LockedUntil, Expr::value(Some(lease)))
            .filter(check::Column::Id.is_in(ids))
            .filter(due())
    };
    let (id, order) = (check::Column::Id, check::Column::NextRunAt);
    if state.backend() == DatabaseBackend::Postgres {
        let txn = state.db.begin().await?;
        let ids = pick_ids::<check::Entity>(&txn, id, due(), order, settings.batch, true).await?;
        let claimed = if ids.is_empty() { Vec::new() } else { claim(ids).exec_with_returning(&txn).await? };
        txn.commit().await?;
        Ok(claimed)
    } else {
        let ids = pick_ids::<check::Entity>(&state.db, id, due(), order, settings.batch, false).await?;
        Ok(if ids.is_empty() { Vec::new() } else { claim(ids).exec_with_returning(&state.db).await? })
    }
}

/// One claimed check's probe, when it started.
pub type Probed = (check::Model, CheckDef, ProbeResult, DateTime<Utc>);

/// Probes one claimed check; None when its spec no longer compiles (logged).
pub async fn probe_claimed(state: &AppState, row: check::Model, now: DateTime<Utc>) -> Option<Probed> {
    match def_of(&row) {
        Ok(def) => {
            let r = probe(state, &row, &def, now).await;
            Some((row, def, r, now))
        }
        Err(e) => {
            tracing::error!(check = %row.name, error = %crate::services::chain(&e), "check skipped");
            None
        }
    }
}

/// Claims and runs one batch of due interval checks, waiting for all of them. Tests call this;
/// the service's loop pipelines the same steps (claim, probe, `record_batch`).
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> Result<RunOutcome> {
    let claimed = claim(state, now).await?;
    let mut out = RunOutcome { ran: claimed.len(), ..Default::default() };
    if claimed.is_empty() {
        return Ok(out);
    }
    let batch: Vec<Probed> = futures_util::stream::iter(claimed)
        .map(|row| probe_claimed(state, row, now))
        .buffer_unordered(state.config.settings.checks.concurrency as usize)
        .filter_map(|p| async move { p })
        .collect()
        .await;
    out.failed = batch.iter().filter(|(_, _, r, _)| r.verdict == Verdict::Fail).count();
    out.opened = record_batch(state, batch).await?;
    Ok(out)
}

/// Who ran a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The interval runner, which holds the claim: the result releases it and schedules the next.
    Runner,
    /// `POST /api/v1/checks/{id}/run`.
    Manual,
    Inspection(i64),
}

/// One result folded into its check: the row to store, the check's new state, and what the
/// transition asks for afterwards.
struct Evaluated {
    result: check_result::Model,
    update: CheckUpdate,
    verdict: Verdict,
    step: Step,
    flapping: bool,
}

/// One probe result to record: of which check, from whom, and whether the gating canaries all
/// failed when it came in.
pub struct Run<'a> {
    pub def: &'a CheckDef,
    pub result: &'a ProbeResult,
    pub origin: Origin,
    pub gated: bool,
    pub now: DateTime<Utc>,
}

fn evaluate(state: &AppState, current: &check::Model, run: &Run<'_>) -> Result<Evaluated> {
    let Run { def, result: r, origin, gated: gate, now } = *run;
    let canary = state.config.settings.gating.canaries.contains(&current.name);
    let gated = gate && !canary;
    let verdict = if gated { Verdict::Unknown } else { r.verdict };
    let mut tracker = tracker_of(current);
    let step: Step = tracker.observe(current.health, verdict, &thresholds(state, def), secs(now));
    let transition = match step.transition {
        Transition::None => None,
        Transition::WentDown => Some("went_down"),
        Transition::Recovered => Some("recovered"),
        Transition::BecameUp => Some("became_up"),
    };
    let outcome = match verdict {
        Verdict::Pass => Health::Up,
        Verdict::Fail => Health::Down,
        Verdict::Unknown => Health::Unknown,
    };
    let error = if gated {
        Some("unknown: every gating canary fails, so this result cannot be trusted".to_string())
    } else {
        r.error.clone()
    };
    let result = check_result::Model {
        id: 0,
        check_id: current.id,
        inspection_id: match origin {
            Origin::Inspection(id) => Some(id),
            _ => None,
        },
        started_at: now,
        duration_ms: r.duration_ms as i64,
        outcome,
        health: step.health,
        transition: transition.map(String::from),
        failed_condition: r.unmet.as_ref().map(|u| u.condition.clone()),
        observed: r.unmet.as_ref().map(|u| u.observed.clone()),
        error,
        cert_expires_at: r.observation.certificate_expires_in_secs.map(|s| now + chrono::Duration::seconds(s)),
    };
    // Only the runner, which holds the claim, moves the schedule and releases the claim.
    let next_run_at = match origin {
        Origin::Runner => next_run(current, def, tracker.failures > 0, now),
        _ => current.next_run_at,
    };
    let update = CheckUpdate {
        id: current.id,
        health: step.health,
        tracker: serde_json::to_string(&tracker).map_err(Error::internal)?,
        flapping: tracker.flapping,
        last_run_at: now,
        next_run_at,
    };
    Ok(Evaluated { result, update, verdict, step, flapping: tracker.flapping })
}

/// Stores one result and the check's new health, then acts on the transition. Returns the
/// stored result and whether a ticket was opened.
pub async fn record(state: &AppState, row: &check::Model, run: &Run<'_>) -> Result<(check_result::Model, bool)> {
    let (origin, now) = (run.origin, run.now);
    let txn = state.db.begin().await?;
    // Read again under the transaction: an inspection and the runner may both report.
    let current = check::Entity::find_by_id(row.id).one(&txn).await?.unwrap_or_else(|| row.clone());
    let e = evaluate(state, &current, run)?;
    let stored = check_result::ActiveModel {
        check_id: Set(e.result.check_id),
        inspection_id: Set(e.result.inspection_id),
        started_at: Set(e.result.started_at),
        duration_ms: Set(e.result.duration_ms),
        outcome: Set(e.result.outcome),
        health: Set(e.result.health),
        transition: Set(e.result.transition.clone()),
        failed_condition: Set(e.result.failed_condition.clone()),
        observed: Set(e.result.observed.clone()),
        error: Set(e.result.error.clone()),
        cert_expires_at: Set(e.result.cert_expires_at),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut upd = check::Entity::update_many()
        .col_expr(check::Column::Health, Expr::value(e.update.health))
        .col_expr(check::Column::Tracker, Expr::value(e.update.tracker.clone()))
        .col_expr(check::Column::Flapping, Expr::value(e.update.flapping))
        .col_expr(check::Column::LastRunAt, Expr::value(Some(now)))
        .filter(check::Column::Id.eq(row.id));
    if origin == Origin::Runner {
        upd = upd
            .col_expr(check::Column::NextRunAt, Expr::value(e.update.next_run_at))
            .col_expr(check::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None));
    }
    upd.exec(&txn).await?;
    rollup::add(&txn, row.id, e.verdict, run.result.duration_ms as i64, now).await?;
    txn.commit().await?;
    let opened = effects(state, &current, run, &e).await?;
    Ok((stored, opened))
}

/// Stores a batch of the runner's results in one transaction of a few statements, releasing the
/// checks' claims; then the transitions' effects. Returns how many tickets were opened.
pub async fn record_batch(state: &AppState, batch: Vec<Probed>) -> Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let gate = gated(state).await?;
    let txn = state.db.begin().await?;
    let ids: Vec<i64> = batch.iter().map(|(c, _, _, _)| c.id).collect();
    let current: HashMap<i64, check::Model> = check::Entity::find()
        .filter(check::Column::Id.is_in(ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut done = Vec::with_capacity(batch.len());
    let mut rollups: BTreeMap<(i64, RollupPeriod, DateTime<Utc>), RollupAdd> = BTreeMap::new();
    for (row, def, r, now) in batch {
        // Deleted meanwhile: nothing to record.
        let Some(cur) = current.get(&row.id) else { continue };
        let run = Run { def: &def, result: &r, origin: Origin::Runner, gated: gate, now };
        let e = evaluate(state, cur, &run)?;
        for add in rollup::increments(cur.id, e.verdict, r.duration_ms as i64, now) {
            match rollups.entry((add.check_id, add.period, add.bucket_start)) {
                Entry::Vacant(v) => {
                    v.insert(add);
                }
                Entry::Occupied(mut o) => {
                    let sum = o.get_mut();
                    sum.passes += add.passes;
                    sum.failures += add.failures;
                    sum.unknowns += add.unknowns;
                    sum.total_ms += add.total_ms;
                }
            }
        }
        done.push((cur.clone(), def, r, e, now));
    }
    let results: Vec<check_result::Model> = done.iter().map(|(_, _, _, e, _)| e.result.clone()).collect();
    let updates: Vec<CheckUpdate> = done.iter().map(|(_, _, _, e, _)| e.update.clone()).collect();
    let rollups: Vec<RollupAdd> = rollups.into_values().collect();
    check_bulk::insert_results(&txn, &results).await?;
    check_bulk::update_checks(&txn, &updates).await?;
    check_bulk::add_rollups(&txn, &rollups).await?;
    txn.commit().await?;
    let mut opened = 0;
    for (cur, def, r, e, now) in &done {
        let run = Run { def, result: r, origin: Origin::Runner, gated: gate, now: *now };
        opened += usize::from(effects(state, cur, &run, e).await?);
    }
    Ok(opened)
}

/// What a result does to tickets: open, note, recover, flapping. True when it opened one.
async fn effects(state: &AppState, current: &check::Model, run: &Run<'_>, e: &Evaluated) -> Result<bool> {
    let Run { def, result: r, gated: gate, now, .. } = *run;
    let (step, verdict) = (e.step, e.verdict);
    let down = step.health == Health::Down && verdict == Verdict::Fail;
    let settled = step.health == Health::Up && verdict == Verdict::Pass && !e.flapping;
    let quiet = step.transition == Transition::None && !down && !(settled && current.ticket_id.is_some());
    if quiet && !step.started_flapping {
        return Ok(false);
    }
    let maintenance = in_maintenance(&def.maintenance, secs(now));
    let mut opened = false;
    match (current.ticket_id, step.transition) {
        (None, _) if down && !maintenance && !gate => {
            opened = outage::open(state, current, def, r, now).await?.is_some();
        }
        // A flapping check keeps its ticket through short recoveries: one ticket, not one per
        // flap; the ticket is let go once the check is up and has stopped flapping.
        (Some(t), _) if settled => outage::recovered(state, current, def, t, now).await?,
        (Some(t), Transition::Recovered) => outage::still_flapping(state, t, &current.name, now).await?,
        (Some(t), _) if down => outage::failed_again(state, t, &current.name, r, now).await?,
        _ => {}
    }
    if step.started_flapping {
        let ticket = check::Entity::find_by_id(current.id).one(&state.db).await?.and_then(|c| c.ticket_id);
        outage::flapping(state, current, ticket, now).await?;
    }
    Ok(opened)
}

/// Runs one check now, on request, and records the result like any other.
pub async fn run_now(state: &AppState, id: i64, now: DateTime<Utc>) -> Result<ResultView> {
    let row = super::store::find(&state.db, id).await?;
    let def = def_of(&row)?;
    let r = probe(state, &row, &def, now).await;
    let run = Run { def: &def, result: &r, origin: Origin::Manual, gated: gated(state).await?, now };
    let (stored, _) = record(state, &row, &run).await?;
    Ok(stored.into())
}

/// A cron check's turn at `fire`, the scheduled instant: every instance's scheduler fires, the
/// first to move `last_run_at` up to `fire` runs it, the others find it taken.
pub async fn run_scheduled(state: &AppState, id: i64, fire: DateTime<Utc>) -> Result<bool> {
    let claimed = check::Entity::update_many()
        .col_expr(check::Column::LastRunAt, Expr::value(Some(fire)))
        .filter(check::Column::Id.eq(id))
        .filter(Condition::any().add(check::Column::LastRunAt.is_null()).add(check::Column::LastRunAt.lt(fire)))
        .exec(&state.db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(false);
    }
    let row = super::store::find(&state.db, id).await?;
    let def = def_of(&row)?;
    let now = state.clock.now().max(fire);
    let r = probe(state, &row, &def, now).await;
    let gate = gated(state).await?;
    record(state, &row, &Run { def: &def, result: &r, origin: Origin::Manual, gated: gate, now }).await?;
    Ok(true)
}

/// The earliest `next_run_at` of a check nobody holds, for the loop's sleep.
pub async fn next_run_at(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    Ok(check::Entity::find()
        .filter(check::Column::NextRunAt.is_not_null())
        .filter(Condition::any().add(check::Column::LockedUntil.is_null()).add(check::Column::LockedUntil.lt(now)))
        .order_by_asc(check::Column::NextRunAt)
        .one(db)
        .await?
        .and_then(|c| c.next_run_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_fixed_rate_and_phased_by_name() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = on_grid("alpha", 10, t0);
        assert!(a > t0 && a <= t0 + Duration::seconds(10));
        // A late run keeps the grid; the same name keeps its phase.
        assert_eq!(on_grid("alpha", 10, a + Duration::milliseconds(300)), a + Duration::seconds(10));
        assert_eq!(on_grid("alpha", 10, a), a + Duration::seconds(10));
        let phases: std::collections::BTreeSet<i64> =
            (0..50).map(|i| on_grid(&format!("c{i}"), 1, t0).timestamp_subsec_millis() as i64).collect();
        assert!(phases.len() > 30, "names spread over the second: {phases:?}");
    }
}
