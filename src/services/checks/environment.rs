//! Environment detection: an inspection that judges hosts against an environment profile
//! (`[environments.NAME]`) instead of running their checks. Each selected `exporter` check's
//! exporter is scraped once and every condition of the profile is judged on what it served, with
//! the value seen whether it held or not. Nothing is recorded as the check's result and no ticket
//! opens: a host that does not fit a profile is not an outage. The inventory keeps the host's
//! facts and its last detection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::hosts::{self, Detection};
use super::inspections::{InspectionDiff, InspectionItem, unrun};
use super::store::def_of;
use crate::checks::spec::CheckKind;
use crate::config::checks::Environment;
use crate::domain::check::Health;
use crate::persistence::entities::check;
use crate::state::AppState;

/// One condition of a profile on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConditionOutcome {
    pub condition: String,
    pub held: bool,
    /// What the host showed: a value, the lowest and highest of several, a count or a label.
    pub observed: Option<String>,
    /// Whether it held in the previous detection with the same profile, if the host was in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<bool>,
}

/// Whether a check can be judged against a profile: it reads an exporter.
pub fn detectable(row: &check::Model) -> bool {
    row.kind == CheckKind::Exporter.as_str()
}

/// Scrapes the host once and judges every condition of `env`: down when any fails, up when all
/// hold, unknown when the exporter could not be read. The host's facts and this detection go into
/// the inventory.
pub async fn detect(
    state: &AppState,
    row: &check::Model,
    (name, env): (&str, &Environment),
    inspection_id: i64,
    now: DateTime<Utc>,
) -> InspectionItem {
    let out = judge(state, row, env, now).await;
    let d = Detection {
        inspection_id,
        environment: name.to_string(),
        status: out.status,
        failed: out.conditions.iter().filter(|c| !c.held).map(|c| c.condition.clone()).collect(),
        at: now,
    };
    if let Err(e) = hosts::detected(state, row.id, &d).await {
        tracing::warn!(check = %row.name, error = %crate::services::chain(&e), "detection not kept in the inventory");
    }
    out
}

async fn judge(state: &AppState, row: &check::Model, env: &Environment, now: DateTime<Utc>) -> InspectionItem {
    let mut out = unrun(row);
    let mut def = match def_of(row) {
        Ok(d) => d,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    // The check's own conditions are not the profile's: only the scrape itself must succeed.
    def.conditions.clear();
    let r = state.prober.run(&def, now.timestamp()).await;
    out.duration_ms = r.duration_ms as i64;
    if let Err(e) = hosts::seen(state, row.id, &r.observation.series, now).await {
        tracing::warn!(check = %row.name, error = %crate::services::chain(&e), "host facts not kept");
    }
    // A host whose exporter could not be read is neither fit nor unfit: unknown, so the
    // detection is inconclusive rather than failed.
    if let Some(e) = r.error.or(r.unmet.map(|u| format!("{} (observed {})", u.condition, u.observed))) {
        out.status = Health::Unknown;
        out.error = Some(e);
        return out;
    }
    for c in &env.conditions {
        let held = c.check(&r.observation).is_ok();
        out.conditions.push(ConditionOutcome {
            condition: c.text.clone(),
            held,
            observed: c.observed(&r.observation),
            previous: None,
        });
    }
    let failed = out.conditions.iter().find(|c| !c.held);
    out.failed_condition = failed.map(|c| c.condition.clone());
    out.observed = failed.and_then(|c| c.observed.clone());
    out.status = if failed.is_some() { Health::Down } else { Health::Up };
    out
}

/// Marks each condition with how it was in the previous detection, and lists what changed as
/// `host: condition`.
pub fn compare(items: &mut [InspectionItem], before: &[InspectionItem], diff: &mut InspectionDiff) {
    for item in items.iter_mut() {
        let Some(old) = before.iter().find(|b| b.name == item.name) else { continue };
        for c in item.conditions.iter_mut() {
            c.previous = old.conditions.iter().find(|o| o.condition == c.condition).map(|o| o.held);
            let change = format!("{}: {}", item.name, c.condition);
            match (c.previous, c.held) {
                (Some(true), false) => diff.newly_failing.push(change),
                (Some(false), true) => diff.recovered.push(change),
                _ => {}
            }
        }
    }
}
