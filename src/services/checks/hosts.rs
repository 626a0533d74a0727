//! The inventory (`GET /api/v1/hosts`): what each exporter check's host was last seen to be, and
//! the last environment detection that judged it. Written after each scrape that showed facts —
//! a check's run, an inspection's, a detection's — outside the result's transaction: the facts are
//! what was seen, and the next scrape rewrites them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::error::{Error, Result};
use crate::domain::check::Health;
use crate::domain::check::exposition::Series;
use crate::domain::check::facts::{self, HostFacts};
use crate::persistence::by_id;
use crate::persistence::entities::{check, customer, host_fact};
use crate::state::AppState;

/// The last environment detection of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Detection {
    pub inspection_id: i64,
    pub environment: String,
    /// up: the host fits the profile; down: it does not (or could not be read).
    #[schema(value_type = String)]
    pub status: Health,
    /// The conditions that did not hold.
    pub failed: Vec<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostView {
    pub check_id: i64,
    pub check: String,
    pub customer_id: Option<i64>,
    pub customer: Option<String>,
    pub facts: HostFacts,
    pub observed_at: DateTime<Utc>,
    pub last_detection: Option<Detection>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HostQuery {
    /// Only this customer's hosts.
    pub customer_id: Option<i64>,
}

/// Keeps the facts `series` show, if they are an exporter's.
pub async fn seen(state: &AppState, check_id: i64, series: &[Series], now: DateTime<Utc>) -> Result<()> {
    let Some(f) = facts::read(series) else { return Ok(()) };
    let row = host_fact::ActiveModel {
        check_id: Set(check_id),
        facts: Set(serde_json::to_string(&f).map_err(Error::internal)?),
        observed_at: Set(now),
        detection: Set(None),
    };
    host_fact::Entity::insert(row)
        .on_conflict(
            OnConflict::column(host_fact::Column::CheckId)
                .update_columns([host_fact::Column::Facts, host_fact::Column::ObservedAt])
                .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await?;
    Ok(())
}

/// Notes a detection on the host's row (made by the scrape just before).
pub async fn detected(state: &AppState, check_id: i64, d: &Detection) -> Result<()> {
    host_fact::Entity::update_many()
        .col_expr(
            host_fact::Column::Detection,
            sea_orm::sea_query::Expr::value(Some(serde_json::to_string(d).map_err(Error::internal)?)),
        )
        .filter(host_fact::Column::CheckId.eq(check_id))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// The inventory, by check name.
pub async fn list(state: &AppState, q: HostQuery) -> Result<Vec<HostView>> {
    let rows = host_fact::Entity::find().order_by_asc(host_fact::Column::CheckId).all(&state.db).await?;
    let checks =
        by_id::<check::Entity>(&state.db, check::Column::Id, rows.iter().map(|r| r.check_id).collect(), |c| c.id)
            .await?;
    let customers = by_id::<customer::Entity>(
        &state.db,
        customer::Column::Id,
        checks.values().filter_map(|c| c.customer_id).collect(),
        |c| c.id,
    )
    .await?;
    let mut out = Vec::new();
    for r in rows {
        // A deleted check's host is no longer watched.
        let Some(c) = checks.get(&r.check_id) else { continue };
        if q.customer_id.is_some() && c.customer_id != q.customer_id {
            continue;
        }
        out.push(HostView {
            check_id: c.id,
            check: c.name.clone(),
            customer_id: c.customer_id,
            customer: c.customer_id.and_then(|id| customers.get(&id)).map(|cu| cu.name.clone()),
            facts: serde_json::from_str(&r.facts).map_err(Error::internal)?,
            observed_at: r.observed_at,
            last_detection: r.detection.as_deref().map(serde_json::from_str).transpose().map_err(Error::internal)?,
        });
    }
    out.sort_by(|a, b| a.check.cmp(&b.check));
    Ok(out)
}
