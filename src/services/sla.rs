//! SLA previews (docs/sla.md §10): the deadlines a ticket would get, before it exists — what a hotline
//! agent quotes to a caller.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::customers;
use super::error::{Error, Result};
use super::tickets::{ExplainView, StepView};
use super::timers::{secs, utc};
use crate::config::Runtime;
use crate::domain::level::Level;
use crate::domain::sla::{TimerKind, replay_explained};
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Use this customer's contract; or give both `calendar` and `sla_policy`.
    pub customer_id: Option<i64>,
    pub calendar: Option<String>,
    pub sla_policy: Option<String>,
    #[schema(value_type = String, example = "I", pattern = "^([Ii]|[Ii][Ii]|[Ii][Ii][Ii]|[Ii][Vv])$")]
    pub level: Level,
    /// RFC 3339 with any offset; now when absent.
    pub opened_at: Option<DateTime<chrono::FixedOffset>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewTimer {
    pub target: String,
    pub due_at: DateTime<Utc>,
    pub explain: ExplainView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    pub calendar: String,
    pub sla_policy: String,
    pub level: String,
    pub opened_at: DateTime<Utc>,
    pub response: PreviewTimer,
    pub plan: PreviewTimer,
    pub resolution: PreviewTimer,
}

/// The deadlines on a named calendar and policy from the configuration.
pub fn preview_on(
    runtime: &Runtime,
    calendar: &str,
    policy: &str,
    level: Level,
    opened_at: DateTime<Utc>,
) -> Result<Preview> {
    let cal = runtime
        .calendars
        .get(calendar)
        .ok_or_else(|| Error::invalid("calendar", format!("no calendar named `{calendar}`")))?;
    let pol = runtime
        .policies
        .get(policy)
        .ok_or_else(|| Error::invalid("sla_policy", format!("no SLA policy named `{policy}`")))?;
    let start = secs(opened_at);
    let targets = pol.value.targets(level);
    let one = |kind: TimerKind| -> Result<PreviewTimer> {
        let target = targets.get(kind).ok_or_else(|| Error::Internal(format!("every level has a {kind} target")))?;
        let (r, steps) = replay_explained(&cal.value, kind, start, target, targets.plan, &[])?;
        let due = r.due.ok_or_else(|| Error::Internal("a new timer has a deadline".into()))?;
        let unknown = match cal.value.holidays_known_until() {
            Some(known) if cal.value.local_date(due)? > known => Some(known.to_string()),
            _ => None,
        };
        Ok(PreviewTimer {
            target: target.to_string(),
            due_at: utc(due),
            explain: ExplainView {
                calendar: calendar.to_string(),
                timezone: cal.value.timezone().to_string(),
                target: target.to_string(),
                steps: steps.iter().map(StepView::from).collect(),
                holidays_unknown_after: unknown,
            },
        })
    };
    Ok(Preview {
        calendar: calendar.to_string(),
        sla_policy: policy.to_string(),
        level: level.to_string(),
        opened_at: utc(start),
        response: one(TimerKind::Response)?,
        plan: one(TimerKind::Plan)?,
        resolution: one(TimerKind::Resolution)?,
    })
}

/// How far from now a preview may start.
const PREVIEW_YEARS: i64 = 10;

pub async fn preview(state: &AppState, req: PreviewRequest, now: DateTime<Utc>) -> Result<Preview> {
    let opened_at = req.opened_at.map(|t| t.with_timezone(&Utc)).unwrap_or(now);
    // Calendars say nothing useful about centuries away, and year 9999 plus five days overflows.
    if (opened_at - now).num_days().abs() > PREVIEW_YEARS * 366 {
        return Err(Error::invalid("opened_at", format!("must be within {PREVIEW_YEARS} years of now")));
    }
    let (calendar, policy) = match (req.customer_id, req.calendar, req.sla_policy) {
        (Some(id), None, None) => {
            let c = customers::find(&state.db, id)
                .await
                .map_err(|_| Error::invalid("customer_id", format!("no customer with id {id}")))?;
            (c.calendar, c.sla_policy)
        }
        (Some(_), _, _) => {
            return Err(Error::invalid("customer_id", "give either customer_id or calendar and sla_policy, not both"));
        }
        (None, Some(c), Some(p)) => (c, p),
        (None, Some(_), None) => return Err(Error::invalid("sla_policy", "`sla_policy` is required with `calendar`")),
        (None, None, Some(_)) => return Err(Error::invalid("calendar", "`calendar` is required with `sla_policy`")),
        (None, None, None) => {
            return Err(Error::invalid("customer_id", "give customer_id, or calendar and sla_policy"));
        }
    };
    preview_on(&state.config.runtime, &calendar, &policy, req.level, opened_at)
}
