//! What-if: how a changed calendar or SLA policy would move the deadlines of every unmet timer,
//! computed by replaying each timer on the changed configuration. Nothing is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::timers::{Timer, secs, utc};
use crate::config::Problem;
use crate::config::settings::{CalendarSettings, PolicySettings};
use crate::domain::calendar::Calendar;
use crate::domain::sla::{SlaPolicy, replay};
use crate::persistence::entities::{sla_timer, ticket};
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// A calendar in the configuration's shape, replacing the one named `name`.
    #[schema(value_type = Option<Object>)]
    pub calendar: Option<NamedCalendar>,
    /// An SLA policy in the configuration's shape, replacing the one named `name`.
    #[schema(value_type = Option<Object>)]
    pub sla_policy: Option<NamedPolicy>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedCalendar {
    pub name: String,
    #[serde(flatten)]
    pub calendar: CalendarSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedPolicy {
    pub name: String,
    #[serde(flatten)]
    pub policy: PolicySettings,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Affected {
    pub ticket_id: i64,
    pub number: String,
    pub timer: String,
    pub cycle: i32,
    /// Current deadline (null while paused).
    pub due_at: Option<DateTime<Utc>>,
    pub new_due_at: Option<DateTime<Utc>>,
    /// Working seconds left now, for paused timers.
    pub remaining_working_secs: Option<i64>,
    pub new_remaining_working_secs: Option<i64>,
    /// Positive: later; negative: earlier.
    pub delta_secs: i64,
    pub newly_breached: bool,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct WhatIf {
    /// Unmet, unbreached timers on the changed calendar or policy.
    pub timers_considered: u64,
    pub earlier: u64,
    pub later: u64,
    pub unchanged: u64,
    /// Would be past their deadline now.
    pub newly_breached: u64,
    /// Tickets on the changed configuration that stay as they are: breaches are never cleared.
    pub already_breached: u64,
    /// The 20 timers that would move most.
    pub most_affected: Vec<Affected>,
}

fn problems_to_error(field: &str, problems: Vec<Problem>) -> Error {
    let msg = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
    Error::invalid(field, msg)
}

/// The calendar and policy the caller proposes, compiled.
struct Proposed {
    calendar: Option<(String, Arc<Calendar>)>,
    policy: Option<(String, Arc<SlaPolicy>)>,
}

impl Proposed {
    fn of(req: &WhatIfRequest) -> Result<Self> {
        if req.calendar.is_none() && req.sla_policy.is_none() {
            return Err(Error::invalid("calendar", "give a changed `calendar` and/or `sla_policy`"));
        }
        let calendar = match &req.calendar {
            Some(c) => {
                if !c.calendar.exceptions.include.is_empty() {
                    return Err(Error::invalid(
                        "calendar.exceptions.include",
                        "list the dates instead: files are read only from the configuration directory",
                    ));
                }
                let mut problems = crate::config::Problems::default();
                match crate::config::compile_calendar(&c.name, &c.calendar, Path::new("."), &mut problems) {
                    Some(content) if !problems.has_errors() => {
                        let cal = content.build().map_err(|e| Error::invalid("calendar", e))?;
                        Some((c.name.clone(), Arc::new(cal)))
                    }
                    _ => return Err(problems_to_error("calendar", problems.into_vec())),
                }
            }
            None => None,
        };
        let policy = match &req.sla_policy {
            Some(p) => {
                let mut problems = crate::config::Problems::default();
                match crate::config::compile_policy(&p.name, &p.policy, &mut problems) {
                    Some(pol) if !problems.has_errors() => Some((p.name.clone(), Arc::new(pol))),
                    _ => return Err(problems_to_error("sla_policy", problems.into_vec())),
                }
            }
            None => None,
        };
        Ok(Proposed { calendar, policy })
    }
}

/// What the proposal does to one unmet timer.
enum Effect {
    /// Neither its calendar nor its policy is proposed.
    Untouched,
    AlreadyBreached,
    /// Its deadline (or remaining time, while paused) moves by `delta_secs`.
    Moved {
        delta_secs: i64,
        newly_breached: bool,
        new_due: Option<i64>,
        new_remaining: Option<i64>,
    },
}

fn effect(state: &AppState, p: &Proposed, timer: &Timer, now: i64) -> Result<Effect> {
    let cal_name = state.versions.name_of(timer.model.calendar_version_id).unwrap_or_default();
    let pol_name = state.versions.name_of(timer.model.policy_version_id).unwrap_or_default();
    let new_cal = p.calendar.as_ref().filter(|(name, _)| *name == cal_name).map(|(_, c)| c.clone());
    let new_pol = p.policy.as_ref().filter(|(name, _)| *name == pol_name).map(|(_, p)| p.clone());
    if new_cal.is_none() && new_pol.is_none() {
        return Ok(Effect::Untouched);
    }
    if timer.breached_at(now) {
        return Ok(Effect::AlreadyBreached);
    }
    let cal = new_cal.unwrap_or_else(|| timer.calendar.clone());
    let level = timer.model.level;
    let (target, plan) = match &new_pol {
        Some(p) => (
            p.target(level, timer.kind).unwrap_or(timer.target),
            p.target(level, crate::domain::sla::TimerKind::Plan).unwrap_or(timer.plan),
        ),
        None => (timer.target, timer.plan),
    };
    // A policy change re-targets from the original start; the history's own level changes keep
    // applying on top.
    let history: Vec<_> = timer
        .history
        .iter()
        .filter(|h| new_pol.is_none() || !matches!(h, crate::domain::sla::HistoryEntry::Retarget { .. }))
        .cloned()
        .collect();
    let r = replay(&cal, timer.kind, secs(timer.model.started_at), target, plan, &history)?;
    let delta_secs = match (timer.due(), r.due, timer.model.remaining_secs, r.remaining) {
        (Some(a), Some(b), _, _) => b - a,
        (_, _, Some(a), Some(b)) => b - a,
        _ => 0,
    };
    let newly_breached = r.breached || (r.paused_at.is_none() && r.due.is_some_and(|d| now > d));
    Ok(Effect::Moved { delta_secs, newly_breached, new_due: r.due, new_remaining: r.remaining })
}

pub async fn what_if(state: &AppState, req: WhatIfRequest, now: DateTime<Utc>) -> Result<WhatIf> {
    let proposed = Proposed::of(&req)?;
    let n = secs(now);
    let mut out = WhatIf::default();
    let mut affected: Vec<Affected> = Vec::new();
    let mut after_id = 0i64;
    loop {
        let batch = sla_timer::Entity::find()
            .filter(sla_timer::Column::Outcome.is_null())
            .filter(sla_timer::Column::Id.gt(after_id))
            .order_by_asc(sla_timer::Column::Id)
            .limit(1000)
            .all(&state.db)
            .await?;
        let Some(last) = batch.last() else { break };
        after_id = last.id;
        let numbers = numbers_of(state, &batch).await?;
        for model in batch {
            let timer = Timer::from_model(&state.db, &state.versions, model).await?;
            // Reads an older policy version into the cache, so that its name is known.
            state.versions.policy(&state.db, timer.model.policy_version_id).await?;
            let (delta_secs, newly_breached, new_due, new_remaining) = match effect(state, &proposed, &timer, n)? {
                Effect::Untouched => continue,
                Effect::AlreadyBreached => {
                    out.already_breached += 1;
                    continue;
                }
                Effect::Moved { delta_secs, newly_breached, new_due, new_remaining } => {
                    (delta_secs, newly_breached, new_due, new_remaining)
                }
            };
            out.timers_considered += 1;
            match delta_secs.signum() {
                -1 => out.earlier += 1,
                1 => out.later += 1,
                _ => out.unchanged += 1,
            }
            out.newly_breached += u64::from(newly_breached);
            if delta_secs != 0 || newly_breached {
                affected.push(Affected {
                    ticket_id: timer.model.ticket_id,
                    number: numbers.get(&timer.model.ticket_id).cloned().unwrap_or_default(),
                    timer: timer.kind.to_string(),
                    cycle: timer.model.cycle,
                    due_at: timer.model.due_at,
                    new_due_at: new_due.map(utc),
                    remaining_working_secs: timer.model.remaining_secs,
                    new_remaining_working_secs: new_remaining,
                    delta_secs,
                    newly_breached,
                });
                affected.sort_by_key(|a| {
                    (std::cmp::Reverse(a.newly_breached), std::cmp::Reverse(a.delta_secs.abs()), a.ticket_id)
                });
                affected.truncate(20);
            }
        }
    }
    out.most_affected = affected;
    Ok(out)
}

/// The numbers of the tickets of a batch of timers.
async fn numbers_of(state: &AppState, batch: &[sla_timer::Model]) -> Result<BTreeMap<i64, String>> {
    let ticket_ids: Vec<i64> = batch.iter().map(|t| t.ticket_id).collect();
    Ok(ticket::Entity::find()
        .filter(ticket::Column::Id.is_in(ticket_ids))
        .select_only()
        .column(ticket::Column::Id)
        .column(ticket::Column::Number)
        .into_tuple::<(i64, String)>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect())
}
