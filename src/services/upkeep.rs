//! Coarse, scheduled upkeep of tickets (README: Tickets, statuses and actions): a ticket waiting
//! for the customer longer than `tickets.max_wait` working days resumes (its assignee is told),
//! and a resolved ticket closes after `tickets.auto_close_after`; expired page sessions and portal
//! links are deleted.
//! Run every minute by every instance; the tickets' version checks make each transition happen
//! once.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::error::Error;
use super::error::Result;
use super::tickets::{self, ChangeRequest};
use super::timers::{secs, utc};
use crate::domain::actor::Actor;
use crate::domain::sla::{Target, TimerKind, deadline};
use crate::domain::ticket::Change;
use crate::domain::ticket::Status;
use crate::persistence::entities::{contact_link, customer, ticket, web_session};
use crate::state::AppState;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpkeepOutcome {
    pub resumed: usize,
    pub closed: usize,
    /// Expired page sessions and portal links deleted.
    pub forgotten: u64,
}

pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> Result<UpkeepOutcome> {
    let mut out = UpkeepOutcome::default();
    let rules = &state.config.runtime.tickets;
    // N working days are at least N calendar days: an exact check follows per ticket.
    let lower_bound = match rules.max_wait {
        Target::Days(n) => now - Duration::days(i64::from(n)),
        Target::Working(s) => now - Duration::seconds(s),
        Target::EndOfDay => now,
    };
    let waiting = ticket::Entity::find()
        .filter(ticket::Column::Status.eq(Status::WaitingCustomer))
        .filter(ticket::Column::WaitingSince.lte(lower_bound))
        .order_by_asc(ticket::Column::Id)
        .limit(1000)
        .all(&state.db)
        .await?;
    for t in waiting {
        let (Some(since), Some(c)) =
            (t.waiting_since, customer::Entity::find_by_id(t.customer_id).one(&state.db).await?)
        else {
            continue;
        };
        let Ok((_, cal)) = state.versions.current_calendar(&c.calendar) else { continue };
        let until = deadline(&cal, TimerKind::Resolution, secs(since), rules.max_wait, rules.max_wait)?;
        if secs(now) >= until && by_itself(state, t.id, Change::Resume, now).await? {
            out.resumed += 1;
            tracing::info!(ticket = %t.number, waited_until = %utc(until), "resumed after waiting for the customer");
        }
    }
    let resolved = ticket::Entity::find()
        .filter(ticket::Column::Status.eq(Status::Resolved))
        .filter(ticket::Column::ResolvedAt.lte(now - Duration::seconds(rules.auto_close_after_secs)))
        .order_by_asc(ticket::Column::Id)
        .limit(1000)
        .all(&state.db)
        .await?;
    for t in resolved {
        if by_itself(state, t.id, Change::Close, now).await? {
            out.closed += 1;
        }
    }
    let sessions =
        web_session::Entity::delete_many().filter(web_session::Column::ExpiresAt.lt(now)).exec(&state.db).await?;
    // Used or expired links are kept a day, so a late click reads "used or expired", not "unknown".
    let links = contact_link::Entity::delete_many()
        .filter(contact_link::Column::ExpiresAt.lt(now - Duration::days(1)))
        .exec(&state.db)
        .await?;
    out.forgotten = sessions.rows_affected + links.rows_affected;
    Ok(out)
}

/// Opsline resumes or closes a ticket; false when it is no longer in the status that starts
/// from (another instance, or a person, got there first).
async fn by_itself(state: &AppState, ticket_id: i64, change: Change, now: DateTime<Utc>) -> Result<bool> {
    let req = ChangeRequest::new(ticket_id, change);
    match tickets::change(state, &Actor::system("maintenance"), req, now).await {
        Ok(_) => Ok(true),
        Err(Error::InvalidTransition { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
