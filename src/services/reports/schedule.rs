//! Scheduled reports: each customer with a `weekly` or `monthly` schedule gets the report on the
//! latest period due (at `reports.send_at` on the first day after it, in the customer's time
//! zone), made once across instances (the row's `schedule_key` is unique) and mailed to its
//! recipients through the outbox in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use serde::{Deserialize, Serialize};

use super::customer::{compose, primary_language, zone_of};
use crate::domain::delivery::MessageKind;
use crate::domain::report::{ReportSchedule, due_period, time_of_day};
use crate::persistence::entities::{contact, customer, report as stored};
use crate::persistence::is_unique_violation;
use crate::services::customers::recipients;
use crate::services::delivery::queue_mail;
use crate::services::error::{Error, Result, chain};
use crate::services::timers::{secs, utc};
use crate::state::AppState;

/// What the outbox keeps for a report's mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportMail {
    pub report_id: i64,
    /// The recipient when a contact of the customer: their mail carries the acknowledge link.
    pub contact_id: Option<i64>,
}

/// Makes and queues every report due by `now` that is not made yet; returns how many it made.
/// A customer's failure is logged and does not stop the others.
pub async fn run_scheduled(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    let send_at = time_of_day(&state.config.settings.reports.send_at)
        .ok_or_else(|| Error::Internal("reports.send_at is not a time of day".into()))?;
    let customers = customer::Entity::find()
        .filter(customer::Column::ReportSchedule.ne(ReportSchedule::None))
        .order_by_asc(customer::Column::Id)
        .all(&state.db)
        .await?;
    let mut made = 0;
    for c in customers {
        match one(state, &c, send_at, now).await {
            Ok(true) => made += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(customer = c.id, error = %chain(&e), "scheduled report not made"),
        }
    }
    if made > 0 {
        state.wake_delivery.notify_one();
        tracing::info!(reports = made, "scheduled reports made and queued");
    }
    Ok(made)
}

/// The customer's due report, unless made already (here or by another instance).
async fn one(state: &AppState, c: &customer::Model, send_at: u32, now: DateTime<Utc>) -> Result<bool> {
    let Some(kind) = c.report_schedule.kind() else { return Ok(false) };
    let (zone, tz) = zone_of(state, c)?;
    let (period, _) = due_period(kind, secs(now), send_at, &tz).map_err(Error::Internal)?;
    // A customer added since has nothing in that period to report.
    if c.created_at >= utc(period.end) {
        return Ok(false);
    }
    let key = format!("{kind}:{}:{}", period.first, c.id);
    if stored::Entity::find().filter(stored::Column::ScheduleKey.eq(&key)).one(&state.db).await?.is_some() {
        return Ok(false);
    }
    let language = primary_language(state, c).await?;
    let row = compose(state, c, (&zone, &tz), period, language, None, "schedule", Some(key), now).await?;
    let to = addressees(state, c).await?;
    let txn = state.db.begin().await?;
    let report = match row.insert(&txn).await {
        Ok(r) => r,
        Err(e) if is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    for (email, contact_id) in to {
        let payload =
            serde_json::to_string(&ReportMail { report_id: report.id, contact_id }).map_err(Error::internal)?;
        let key = format!("report:{}:{email}", report.id);
        queue_mail(&txn, key, email, MessageKind::Report, payload, now).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// The customer's recipients (else the primary contact), each with the active contact of this
/// customer it belongs to, if any.
async fn addressees(state: &AppState, c: &customer::Model) -> Result<Vec<(String, Option<i64>)>> {
    let mut list = recipients(c);
    if list.is_empty()
        && let Some(id) = c.primary_contact_id
        && let Some(p) = contact::Entity::find_by_id(id).one(&state.db).await?.filter(|p| p.active)
    {
        list.push(p.email.to_lowercase());
    }
    let mut out = Vec::with_capacity(list.len());
    for email in list {
        let own = contact::Entity::find()
            .filter(contact::Column::EmailLower.eq(email.to_lowercase()))
            .filter(contact::Column::CustomerId.eq(c.id))
            .filter(contact::Column::Active.eq(true))
            .one(&state.db)
            .await?;
        out.push((email, own.map(|k| k.id)));
    }
    Ok(out)
}
