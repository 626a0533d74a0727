//! Reports nobody answered: a scheduled report (the ones mailed to the customer) neither
//! acknowledged nor disputed `reports.ack_within` after it was made — working time on the
//! customer's calendar — fires the rules with `on = "report_unacknowledged"`, once. The report's
//! `escalated_at` is claimed in the transaction that queues the messages, so two instances never
//! both send.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use serde::{Deserialize, Serialize};

use crate::domain::delivery::{Channel, MessageKind, new_message_id};
use crate::domain::escalation::{On, Subject};
use crate::domain::level::Level;
use crate::domain::sla::{TimerKind, deadline};
use crate::persistence::entities::{customer, report as stored};
use crate::services::delivery::queue;
use crate::services::error::{Error, Result, chain};
use crate::services::escalation::recipients::{Recipient, RecipientCache, Whom};
use crate::services::timers::{secs, utc};
use crate::state::AppState;

/// Reports looked at per run.
const BATCH: u64 = 200;

/// What the outbox keeps for an unanswered report's message; composed when it is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unanswered {
    pub report_id: i64,
    /// The webhook's `webhook-id`, the same on every retry.
    pub id: String,
    pub rule: String,
    pub language: String,
}

/// Fires the rules for every scheduled report unanswered past `reports.ack_within` by `now`;
/// returns how many reports it fired for. A report's failure is logged and does not stop the
/// others.
pub async fn run_unacknowledged(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    let rules = &state.config.runtime.escalation.rules;
    if !rules.iter().any(|r| r.on == On::ReportUnacknowledged) {
        return Ok(0);
    }
    let waiting = stored::Entity::find()
        .filter(stored::Column::ScheduleKey.is_not_null())
        .filter(stored::Column::Decision.is_null())
        .filter(stored::Column::EscalatedAt.is_null())
        .filter(stored::Column::CreatedAt.lte(now))
        .order_by_asc(stored::Column::Id)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let mut fired = 0;
    for r in waiting {
        match one(state, &r, now).await {
            Ok(true) => fired += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(report = r.id, error = %chain(&e), "unanswered report not escalated"),
        }
    }
    if fired > 0 {
        state.wake_delivery.notify_one();
        tracing::info!(reports = fired, "unanswered reports escalated");
    }
    Ok(fired)
}

/// When report `r` of customer `c` is due an answer: `reports.ack_within` after it was made.
fn answer_due(state: &AppState, c: &customer::Model, r: &stored::Model) -> Result<i64> {
    let (_, calendar) = state.versions.current_calendar(&c.calendar)?;
    let within = state.config.runtime.tickets.report_ack_within;
    Ok(deadline(&calendar, TimerKind::Plan, secs(r.created_at), within, within)?)
}

async fn one(state: &AppState, r: &stored::Model, now: DateTime<Utc>) -> Result<bool> {
    let c = customer::Entity::find_by_id(r.customer_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::Internal(format!("report {} names a missing customer", r.id)))?;
    let due = answer_due(state, &c, r)?;
    if secs(now) <= due {
        return Ok(false);
    }
    let subject = Subject { timer: None, level: Level::IV, tier: c.tier, customer_key: &c.key };
    let whom =
        Whom { customer_id: c.id, assignee_id: c.account_lead_id, team_id: None, contact_id: c.primary_contact_id };
    let txn = state.db.begin().await?;
    let claimed = stored::Entity::update_many()
        .col_expr(stored::Column::EscalatedAt, Expr::value(Some(now)))
        .filter(stored::Column::Id.eq(r.id))
        .filter(stored::Column::EscalatedAt.is_null())
        .filter(stored::Column::Decision.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let mut cache = RecipientCache::default();
    let mut keys = std::collections::HashSet::new();
    let rules = &state.config.runtime.escalation.rules;
    for rule in rules.iter().filter(|rule| rule.matches(On::ReportUnacknowledged, &subject)) {
        for target in &rule.notify {
            for recipient in cache.resolve(&txn, state, target, &whom, now).await? {
                let (channel, to, language) = match recipient {
                    Recipient::Email { address, language } => (Channel::Email, address, language),
                    Recipient::Webhook(name) => (Channel::Webhook, name, String::new()),
                };
                let key = format!("report-unanswered:{}:{}:{channel}:{to}", r.id, rule.key);
                if !keys.insert(key.clone()) {
                    continue;
                }
                let m = Unanswered { report_id: r.id, id: new_message_id("evt"), rule: rule.key.clone(), language };
                let payload = serde_json::to_string(&m).map_err(Error::internal)?;
                queue(&txn, key, channel, to, MessageKind::ReportUnacknowledged, payload, now).await?;
            }
        }
    }
    txn.commit().await?;
    tracing::info!(report = r.id, customer = c.id, due = %utc(due), "report unanswered: rules fired");
    Ok(true)
}
