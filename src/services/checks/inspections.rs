//! One-click inspection: run the selected checks now, with bounded concurrency, recording each
//! result like any other run (health, tickets); report progress as it goes, and at the end the
//! verdict and the difference from the previous inspection. One runs at a time across instances
//! (a partial unique index); asking again while one runs returns the running one.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::error::{Error, Result};
use super::environment::{self, ConditionOutcome};
use super::runner::{Origin, Run, gated, probe, record};
use super::store::def_of;
use crate::config::checks::Environment;
use crate::domain::check::{Health, InspectionStatus};
use crate::persistence::entities::{check, inspection};
use crate::persistence::is_unique_violation;
use crate::state::AppState;

/// Who requests the scheduled inspections.
pub const SCHEDULE: &str = "schedule";

/// A running inspection whose instance stopped renewing this long is finished as abandoned.
const LEASE_SECS: i64 = 120;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInspection {
    /// Only checks with any of these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Only these checks, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<String>>,
    /// An environment detection: each selected `exporter` check's host judged against this
    /// profile (`[environments.NAME]`) instead of running the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InspectionItem {
    pub check_id: i64,
    pub name: String,
    pub kind: String,
    /// up | down | unknown
    #[schema(value_type = String)]
    pub status: Health,
    pub duration_ms: i64,
    pub failed_condition: Option<String>,
    pub observed: Option<String>,
    pub error: Option<String>,
    /// The check's status in the previous inspection, if it was in it.
    #[schema(value_type = Option<String>)]
    pub previous: Option<Health>,
    /// An environment detection: every condition of the profile on this host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionOutcome>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct InspectionDiff {
    /// Down now, not down in the previous inspection.
    pub newly_failing: Vec<String>,
    /// Down in the previous inspection, up now.
    pub recovered: Vec<String>,
    pub previous_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InspectionView {
    pub id: i64,
    /// running | passed | failed | inconclusive
    #[schema(value_type = String)]
    pub status: InspectionStatus,
    pub total: i32,
    pub done: i32,
    pub selection: NewInspection,
    pub requested_by: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub results: Vec<InspectionItem>,
    pub diff: InspectionDiff,
}

/// A check not run (yet): unknown, with nothing seen.
pub(super) fn unrun(row: &check::Model) -> InspectionItem {
    InspectionItem {
        check_id: row.id,
        name: row.name.clone(),
        kind: row.kind.clone(),
        status: Health::Unknown,
        duration_ms: 0,
        failed_condition: None,
        observed: None,
        error: None,
        previous: None,
        conditions: Vec::new(),
    }
}

fn items(row: &inspection::Model) -> Vec<InspectionItem> {
    serde_json::from_str(&row.results).unwrap_or_default()
}

fn environment_of(selection: &str) -> Option<String> {
    serde_json::from_str::<NewInspection>(selection).ok().and_then(|s| s.environment)
}

/// The latest finished inspection before `before` of the same kind: an environment detection
/// with the same profile, or an inspection of checks. The candidates' selections are read, and
/// only the one found whole.
async fn previous(state: &AppState, before: &inspection::Model) -> Result<Option<inspection::Model>> {
    let environment = environment_of(&before.selection);
    let earlier: Vec<(i64, String)> = inspection::Entity::find()
        .filter(inspection::Column::Id.lt(before.id))
        .filter(inspection::Column::Status.is_in(InspectionStatus::FINISHED))
        .order_by_desc(inspection::Column::Id)
        .limit(50)
        .select_only()
        .columns([inspection::Column::Id, inspection::Column::Selection])
        .into_tuple()
        .all(&state.db)
        .await?;
    let Some((id, _)) = earlier.into_iter().find(|(_, selection)| environment_of(selection) == environment) else {
        return Ok(None);
    };
    Ok(inspection::Entity::find_by_id(id).one(&state.db).await?)
}

async fn view(state: &AppState, row: inspection::Model) -> Result<InspectionView> {
    let mut results = items(&row);
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let mut diff = InspectionDiff::default();
    if let Some(prev) = previous(state, &row).await? {
        let earlier = items(&prev);
        if environment_of(&row.selection).is_some() {
            environment::compare(&mut results, &earlier, &mut diff);
        }
        let before: BTreeMap<String, Health> = earlier.into_iter().map(|i| (i.name, i.status)).collect();
        for item in results.iter_mut() {
            item.previous = before.get(&item.name).copied();
            if !item.conditions.is_empty() {
                continue;
            }
            match (item.previous, item.status) {
                (Some(Health::Down), Health::Up) => diff.recovered.push(item.name.clone()),
                (p, Health::Down) if p != Some(Health::Down) => diff.newly_failing.push(item.name.clone()),
                _ => {}
            }
        }
        diff.previous_id = Some(prev.id);
    }
    Ok(InspectionView {
        id: row.id,
        status: row.status,
        total: row.total,
        done: row.done,
        selection: serde_json::from_str(&row.selection).unwrap_or_default(),
        requested_by: row.requested_by,
        started_at: row.started_at,
        finished_at: row.finished_at,
        results,
        diff,
    })
}

pub async fn get(state: &AppState, id: i64) -> Result<InspectionView> {
    let row = inspection::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("inspection_not_found", "inspection"))?;
    view(state, row).await
}

pub async fn list(state: &AppState, limit: Option<u64>) -> Result<Vec<InspectionView>> {
    let limit = limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "1–200"));
    }
    let rows = inspection::Entity::find().order_by_desc(inspection::Column::Id).limit(limit).all(&state.db).await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(view(state, r).await?);
    }
    Ok(out)
}

async fn select(state: &AppState, req: &NewInspection) -> Result<Vec<check::Model>> {
    let all = check::Entity::find().order_by_asc(check::Column::Name).all(&state.db).await?;
    if let Some(names) = &req.checks {
        for n in names {
            if !all.iter().any(|c| &c.name == n) {
                return Err(Error::invalid("checks", format!("no check named `{n}`")));
            }
        }
    }
    let picked: Vec<check::Model> = all
        .into_iter()
        .filter(|c| req.checks.as_ref().is_none_or(|n| n.contains(&c.name)))
        .filter(|c| {
            req.tags.as_ref().is_none_or(|tags| {
                let own: Vec<String> = serde_json::from_str(&c.tags).unwrap_or_default();
                tags.iter().any(|t| own.contains(t))
            })
        })
        .collect();
    let picked: Vec<check::Model> = match &req.environment {
        None => picked,
        Some(name) => {
            if !state.config.runtime.checks.environments.contains_key(name) {
                return Err(Error::invalid("environment", format!("no environment profile named `{name}`")));
            }
            picked.into_iter().filter(environment::detectable).collect()
        }
    };
    if picked.is_empty() {
        let what = if req.environment.is_some() { "no exporter check" } else { "no check" };
        return Err(Error::invalid("tags", format!("{what} matches this selection")));
    }
    Ok(picked)
}

/// Ends a running inspection whose instance died (its lease ran out) as inconclusive.
async fn reap(state: &AppState, now: DateTime<Utc>) -> Result<()> {
    let reaped = inspection::Entity::update_many()
        .col_expr(inspection::Column::Status, Expr::value(InspectionStatus::Inconclusive))
        .col_expr(inspection::Column::FinishedAt, Expr::value(Some(now)))
        .filter(inspection::Column::Status.eq(InspectionStatus::Running))
        .filter(inspection::Column::LockedUntil.lt(now))
        .exec(&state.db)
        .await?;
    for _ in 0..reaped.rows_affected {
        state.metrics.inspection(InspectionStatus::Inconclusive);
    }
    Ok(())
}

async fn running(state: &AppState) -> Result<Option<inspection::Model>> {
    Ok(inspection::Entity::find()
        .filter(inspection::Column::Status.eq(InspectionStatus::Running))
        .one(&state.db)
        .await?)
}

/// Starts an inspection, or returns the one running (`false`: not started by this call). The
/// checks run in the background; `run_to_end` is what that background task does.
pub async fn start(
    state: &AppState,
    by: &str,
    req: NewInspection,
    now: DateTime<Utc>,
) -> Result<(InspectionView, bool)> {
    reap(state, now).await?;
    if let Some(r) = running(state).await? {
        return Ok((view(state, r).await?, false));
    }
    let picked = select(state, &req).await?;
    let inserted = inspection::ActiveModel {
        status: Set(InspectionStatus::Running),
        selection: Set(serde_json::to_string(&req).unwrap_or_else(|_| "{}".into())),
        total: Set(picked.len() as i32),
        done: Set(0),
        results: Set("[]".into()),
        requested_by: Set(Some(by.to_string())),
        started_at: Set(now),
        finished_at: Set(None),
        locked_until: Set(Some(now + Duration::seconds(LEASE_SECS))),
        ..Default::default()
    }
    .insert(&state.db)
    .await;
    let row = match inserted {
        Ok(r) => r,
        Err(e) if is_unique_violation(&e) => {
            let r = running(state).await?.ok_or_else(|| Error::Internal("the running inspection vanished".into()))?;
            return Ok((view(state, r).await?, false));
        }
        Err(e) => return Err(e.into()),
    };
    let id = row.id;
    let bg = state.clone();
    let profile = req
        .environment
        .as_ref()
        .and_then(|e| state.config.runtime.checks.environments.get(e).map(|p| (e.clone(), p.clone())));
    tokio::spawn(async move {
        if let Err(e) = run_to_end(&bg, id, picked, profile).await {
            tracing::error!(inspection = id, error = %crate::services::chain(&e), "inspection failed");
        }
    });
    Ok((view(state, row).await?, true))
}

/// The scheduled inspection's turn at `fire`: every instance's scheduler fires; it starts unless
/// one was already started for this turn (by another instance). Returns the inspection started.
pub async fn start_scheduled(state: &AppState, fire: DateTime<Utc>) -> Result<Option<i64>> {
    let taken = inspection::Entity::find()
        .filter(inspection::Column::RequestedBy.eq(SCHEDULE))
        .filter(inspection::Column::StartedAt.gte(fire))
        .one(&state.db)
        .await?;
    if taken.is_some() {
        return Ok(None);
    }
    let tags = &state.config.settings.inspections.schedule_tags;
    let req = NewInspection { tags: (!tags.is_empty()).then(|| tags.clone()), checks: None, environment: None };
    let (v, mine) = start(state, SCHEDULE, req, state.clock.now().max(fire)).await?;
    Ok(mine.then_some(v.id))
}

/// Runs the picked checks (or, with `profile`, judges their hosts against it) with
/// `inspections.concurrency` at a time, saving progress after each.
pub async fn run_to_end(
    state: &AppState,
    id: i64,
    picked: Vec<check::Model>,
    profile: Option<(String, Environment)>,
) -> Result<()> {
    let gate = gated(state).await?;
    let concurrency = state.config.settings.inspections.concurrency as usize;
    let mut done: Vec<InspectionItem> = Vec::new();
    let profile = &profile;
    let mut stream = futures_util::stream::iter(picked)
        .map(|row| async move {
            let started = state.clock.now();
            if let Some((name, env)) = profile {
                let detected = environment::detect(state, &row, (name.as_str(), env), id, started).await;
                return (row, Err(detected), None, started);
            }
            let def = def_of(&row).map_err(|e| InspectionItem { error: Some(e.to_string()), ..unrun(&row) });
            let r = match &def {
                Ok(d) => Some(probe(state, &row, d, started).await),
                Err(_) => None,
            };
            (row, def, r, started)
        })
        .buffer_unordered(concurrency);
    while let Some((row, def, r, started)) = stream.next().await {
        let item = match (def, r) {
            (Ok(def), Some(r)) => {
                let run = Run { def: &def, result: &r, origin: Origin::Inspection(id), gated: gate, now: started };
                let (stored, _) = record(state, &row, &run).await?;
                InspectionItem {
                    check_id: row.id,
                    name: row.name.clone(),
                    kind: row.kind.clone(),
                    status: stored.outcome,
                    duration_ms: stored.duration_ms,
                    failed_condition: stored.failed_condition,
                    observed: stored.observed,
                    error: stored.error,
                    previous: None,
                    conditions: Vec::new(),
                }
            }
            (Err(item), _) => item,
            (Ok(_), None) => InspectionItem { error: Some("not run".into()), ..unrun(&row) },
        };
        done.push(item);
        let now = state.clock.now();
        inspection::Entity::update_many()
            .col_expr(inspection::Column::Done, Expr::value(done.len() as i32))
            .col_expr(inspection::Column::Results, Expr::value(serde_json::to_string(&done).map_err(Error::internal)?))
            .col_expr(inspection::Column::LockedUntil, Expr::value(Some(now + Duration::seconds(LEASE_SECS))))
            .filter(inspection::Column::Id.eq(id))
            .exec(&state.db)
            .await?;
    }
    let status = if done.iter().any(|i| i.status == Health::Down) {
        InspectionStatus::Failed
    } else if done.iter().any(|i| i.status == Health::Unknown) {
        InspectionStatus::Inconclusive
    } else {
        InspectionStatus::Passed
    };
    inspection::Entity::update_many()
        .col_expr(inspection::Column::Status, Expr::value(status))
        .col_expr(inspection::Column::FinishedAt, Expr::value(Some(state.clock.now())))
        .col_expr(inspection::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(inspection::Column::Id.eq(id))
        .exec(&state.db)
        .await?;
    state.metrics.inspection(status);
    tracing::info!(inspection = id, status = %status, checks = done.len(), "inspection finished");
    Ok(())
}
