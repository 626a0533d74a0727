//! What a check's health does to tickets: going down opens one ticket (source `check`) at the
//! check's level — at most one open ticket per check, even with several instances, because the
//! ticket is inserted and the check's `ticket_id` claimed from NULL in one transaction; failures
//! while down add `check_failed` to its timeline; recovery adds a comment and `check_recovered`
//! and, with `auto_resolve`, resolves it; flapping adds `check_flapping` and fires the `flapping`
//! rules.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::super::error::{Error, Result};
use super::super::intake::resolve_by_itself;
use super::super::tickets::{self, Also, ChangeRequest, NewTicket, Work};
use crate::checks::probe::ProbeResult;
use crate::checks::spec::CheckDef;
use crate::domain::actor::Actor;
use crate::domain::ticket::{Change, Note, Source};
use crate::persistence::entities::{check, customer, ticket};
use crate::state::AppState;

fn actor(name: &str) -> Actor {
    Actor::system(format!("check:{name}"))
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
    let input = NewTicket {
        customer_id: Some(cust.id),
        title: format!("Check {name} is down"),
        description: format!(
            "Health check `{}` ({}) failed {} times in a row at {}.\n\n{}",
            row.name,
            def.spec.kind.as_str(),
            def.spec.failure_threshold,
            now.to_rfc3339(),
            failure_text(r)
        ),
        level: Some(def.level),
        contact_id: None,
        source: Some(Source::Check),
        reported_at: None,
    };
    // Another instance (or an inspection) may open the outage's ticket first: the claim decides.
    let claim = Claim::Take { check_id: row.id };
    let Some(opened) = tickets::open_with(state, &actor(&row.name), input, None, &claim, now).await? else {
        return Ok(None);
    };
    tracing::info!(check = %row.name, ticket = %opened.ticket.number, "check down: ticket opened");
    Ok(Some(opened.ticket.id))
}

/// A check's hold on its outage ticket, changed only from the state it was read in, so that one
/// instance wins.
enum Claim {
    /// The ticket being opened becomes the check's outage ticket, unless the check has one.
    Take { check_id: i64 },
    /// The check lets go of its outage ticket.
    Release { check_id: i64, ticket_id: i64 },
}

impl Claim {
    async fn exec(&self, db: &impl ConnectionTrait, opened: Option<i64>) -> Result<bool> {
        let (check_id, q) = match self {
            Claim::Take { check_id } => (
                check_id,
                check::Entity::update_many()
                    .col_expr(check::Column::TicketId, Expr::value(opened))
                    .filter(check::Column::TicketId.is_null()),
            ),
            Claim::Release { check_id, ticket_id } => (
                check_id,
                check::Entity::update_many()
                    .col_expr(check::Column::TicketId, Expr::value(Option::<i64>::None))
                    .filter(check::Column::TicketId.eq(*ticket_id)),
            ),
        };
        Ok(q.filter(check::Column::Id.eq(*check_id)).exec(db).await?.rows_affected == 1)
    }
}

impl Also for Claim {
    async fn write(&self, work: &mut Work<'_>, t: &ticket::Model) -> Result<bool> {
        self.exec(&work.txn, Some(t.id)).await
    }
}

fn note(n: Note, detail: serde_json::Value, comment: Option<String>) -> Change {
    Change::Note { note: n, detail, comment }
}

/// Another failure while down, on the outage's ticket.
pub async fn failed_again(
    state: &AppState,
    ticket_id: i64,
    name: &str,
    r: &ProbeResult,
    now: DateTime<Utc>,
) -> Result<()> {
    let change = note(Note::CheckFailed, json!({"check": name, "failure": failure_text(r)}), None);
    tickets::change(state, &actor(name), ChangeRequest::new(ticket_id, change), now).await?;
    Ok(())
}

/// Up again while flapping: noted on the ticket, which stays the outage's.
pub async fn still_flapping(state: &AppState, ticket_id: i64, name: &str, now: DateTime<Utc>) -> Result<()> {
    let change = note(Note::CheckRecovered, json!({"check": name, "flapping": true}), None);
    tickets::change(state, &actor(name), ChangeRequest::new(ticket_id, change), now).await?;
    Ok(())
}

/// Recovery: an internal comment and `check_recovered`; with `auto_resolve` the ticket is
/// resolved. The check no longer points at the ticket either way: the next outage opens a new one.
pub async fn recovered(
    state: &AppState,
    row: &check::Model,
    def: &CheckDef,
    ticket_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let who = actor(&row.name);
    let comment = format!(
        "Check `{}` recovered at {} ({} successful runs in a row).",
        row.name,
        now.to_rfc3339(),
        def.spec.success_threshold
    );
    let change = note(Note::CheckRecovered, json!({"check": row.name}), Some(comment));
    let release = Claim::Release { check_id: row.id, ticket_id };
    match tickets::change_with(state, &who, ChangeRequest::new(ticket_id, change), &release, now).await {
        Ok(_) => {}
        // The ticket is gone: the check lets go of it all the same.
        Err(Error::NotFound { .. }) => {
            release.exec(&state.db, None).await?;
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    if def.spec.auto_resolve {
        let resolution = format!("Check `{}` recovered; resolved automatically (auto_resolve).", row.name);
        resolve_by_itself(state, &who, ticket_id, resolution, now).await?;
    }
    Ok(())
}

/// The check started flapping: `check_flapping` on the outage's ticket, which tells the
/// `flapping` rules.
pub async fn flapping(state: &AppState, row: &check::Model, ticket_id: Option<i64>, now: DateTime<Utc>) -> Result<()> {
    tracing::warn!(check = %row.name, "check is flapping");
    let Some(id) = ticket_id else { return Ok(()) };
    let change = note(Note::CheckFlapping, json!({"check": row.name}), None);
    tickets::change(state, &actor(&row.name), ChangeRequest::new(id, change), now).await?;
    Ok(())
}
