//! What a check's health does to tickets: going down opens one ticket (source `check`) at the
//! check's level — at most one open ticket per check, even with several instances, because the
//! ticket is inserted and the check's `ticket_id` claimed from NULL in one transaction; failures
//! while down add `check_failed` to its timeline; recovery adds a comment and `check_recovered`
//! and, with `auto_resolve`, resolves it; flapping adds `check_flapping` and fires the `flapping`
//! rules.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use super::super::error::Result;
use super::super::tickets::{Opening, Source, Who, insert_comment, insert_new, record_event, resolve_by_system};
use crate::checks::probe::ProbeResult;
use crate::checks::spec::CheckDef;
use crate::domain::escalation::On;
use crate::metrics::Tally;
use crate::persistence::entities::{check, customer, ticket};
use crate::state::AppState;

fn actor(name: &str) -> String {
    format!("check:{name}")
}

/// The failure in one line: the condition and what was seen, or the error.
fn failure_text(r: &ProbeResult) -> String {
    let mut parts = Vec::new();
    if let Some(u) = &r.unmet {
        parts.push(format!("{} (observed {})", u.condition, u.observed));
    }
    if let Some(e) = &r.error {
        parts.push(e.clone());
    }
    if parts.is_empty() { "failed".into() } else { parts.join("; ") }
}

async fn customer_of(state: &AppState, row: &check::Model, def: &CheckDef) -> Result<Option<customer::Model>> {
    if let Some(id) = row.customer_id {
        return Ok(customer::Entity::find_by_id(id).one(&state.db).await?);
    }
    match &def.spec.customer {
        Some(key) => {
            let c = customer::Entity::find().filter(customer::Column::Key.eq(key.as_str())).one(&state.db).await?;
            if c.is_none() {
                tracing::warn!(check = %row.name, customer = %key, "no customer has this key: the check opens no ticket");
            }
            Ok(c)
        }
        None => Ok(None),
    }
}

/// Opens the outage ticket unless the check has one; returns its id when this call opened it.
pub async fn open(
    state: &AppState,
    row: &check::Model,
    def: &CheckDef,
    r: &ProbeResult,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let Some(cust) = customer_of(state, row, def).await? else { return Ok(None) };
    let name = def.spec.public_name.clone().unwrap_or_else(|| row.name.clone());
    let title = format!("Check {name} is down");
    let description = format!(
        "Health check `{}` ({}) failed {} times in a row at {}.\n\n{}",
        row.name,
        def.spec.kind.as_str(),
        def.spec.failure_threshold,
        now.to_rfc3339(),
        failure_text(r)
    );
    let who = actor(&row.name);
    let txn = state.db.begin().await?;
    let opening = Opening {
        customer: &cust,
        contact_id: None,
        title: &title,
        description: &description,
        level: Some(def.level),
        source: Source::Check,
        reported_at: now,
        who: Who::System(&who),
        created_by: (None, None),
    };
    let mut tally = Tally::default();
    let opened = insert_new(&txn, state, &opening, now, &mut tally).await?;
    let t = &opened.ticket;
    let claimed = check::Entity::update_many()
        .col_expr(check::Column::TicketId, Expr::value(Some(t.id)))
        .filter(check::Column::Id.eq(row.id))
        .filter(check::Column::TicketId.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        // Another instance (or an inspection) opened the outage's ticket first.
        txn.rollback().await?;
        return Ok(None);
    }
    txn.commit().await?;
    state.opened(tally, opened.next_fire, now);
    tracing::info!(check = %row.name, ticket = %t.number, "check down: ticket opened");
    Ok(Some(t.id))
}

/// Another failure while down, on the outage's ticket.
pub async fn failed_again(
    state: &AppState,
    ticket_id: i64,
    name: &str,
    r: &ProbeResult,
    now: DateTime<Utc>,
) -> Result<()> {
    record_event(
        &state.db,
        ticket_id,
        &actor(name),
        "check_failed",
        json!({"check": name, "failure": failure_text(r)}),
        now,
    )
    .await
}

/// Up again while flapping: noted on the ticket, which stays the outage's.
pub async fn still_flapping(state: &AppState, ticket_id: i64, name: &str, now: DateTime<Utc>) -> Result<()> {
    record_event(&state.db, ticket_id, &actor(name), "check_recovered", json!({"check": name, "flapping": true}), now)
        .await
}

/// Recovery: a comment and `check_recovered`; with `auto_resolve` the ticket is resolved. The
/// check no longer points at the ticket either way: the next outage opens a new one.
pub async fn recovered(
    state: &AppState,
    row: &check::Model,
    def: &CheckDef,
    ticket_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let who = actor(&row.name);
    let txn = state.db.begin().await?;
    let open = ticket::Entity::find_by_id(ticket_id).one(&txn).await?;
    if let Some(t) = &open {
        let body = format!(
            "Check `{}` recovered at {} ({} successful runs in a row).",
            row.name,
            now.to_rfc3339(),
            def.spec.success_threshold
        );
        if !["resolved", "closed", "cancelled"].contains(&t.status.as_str()) {
            insert_comment(&txn, t.id, Who::System(&who), &body, "internal", now).await?;
        }
        record_event(&txn, t.id, &who, "check_recovered", json!({"check": row.name}), now).await?;
    }
    check::Entity::update_many()
        .col_expr(check::Column::TicketId, Expr::value(Option::<i64>::None))
        .filter(check::Column::Id.eq(row.id))
        .filter(check::Column::TicketId.eq(ticket_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    if def.spec.auto_resolve && open.is_some() {
        let resolution = format!("Check `{}` recovered; resolved automatically (auto_resolve).", row.name);
        resolve_by_system(state, ticket_id, &who, &resolution, now).await?;
        state.wake_delivery.notify_one();
    }
    Ok(())
}

/// The check started flapping: a ticket event and the `flapping` rules (on the outage's ticket).
pub async fn flapping(state: &AppState, row: &check::Model, ticket_id: Option<i64>, now: DateTime<Utc>) -> Result<()> {
    tracing::warn!(check = %row.name, "check is flapping");
    let Some(id) = ticket_id else { return Ok(()) };
    let txn = state.db.begin().await?;
    record_event(&txn, id, &actor(&row.name), "check_flapping", json!({"check": row.name}), now).await?;
    let mut tally = Tally::default();
    if let Some(t) = ticket::Entity::find_by_id(id).one(&txn).await? {
        crate::services::escalation::ticket_event(&txn, state, On::Flapping, &t, now, &mut tally).await?;
    }
    txn.commit().await?;
    state.metrics.record(tally);
    state.wake_delivery.notify_one();
    Ok(())
}
