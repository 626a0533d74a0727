//! A finished timer's outcome, written once into `timer_outcomes` by the transaction that ends
//! the timer (`Timer::save` is the one place a timer's outcome is stored), and never updated:
//! reports read only these rows.

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{Timer, secs};
use crate::domain::sla::figures;
use crate::persistence::entities::{sla_timer, ticket, timer_outcome};
use crate::services::error::{Error, Result};
use crate::services::versions::Versions;

/// Writes `timer`'s outcome with its ticket's customer; a second write of the same timer is a
/// no-op (the row is unique per timer).
pub(super) async fn freeze(db: &impl ConnectionTrait, timer: &Timer) -> Result<()> {
    use timer_outcome::Column as C;
    let m = &timer.model;
    let Some(outcome) = m.outcome else { return Ok(()) };
    let ended = m.finished_at.or(m.met_at).unwrap_or(m.updated_at);
    let f = figures(&timer.calendar, &timer.history, m.due_at.map(secs), secs(ended))?;
    let values: Vec<Expr> = vec![
        Expr::val(m.id),
        Expr::val(m.ticket_id),
        Expr::val(m.kind),
        Expr::val(m.cycle),
        Expr::val(m.level),
        Expr::val(outcome),
        Expr::val(m.started_at),
        Expr::val(m.due_at),
        Expr::val(m.met_at),
        Expr::val(ended),
        Expr::val(m.breached),
        Expr::val(f.paused_secs),
        Expr::val(f.late_secs),
        Expr::val(m.policy_version_id),
        Expr::val(m.calendar_version_id),
        Expr::val(m.updated_at),
    ];
    let mut customer = Query::select();
    customer
        .exprs(values)
        .column((ticket::Entity, ticket::Column::CustomerId))
        .from(ticket::Entity)
        .and_where(ticket::Column::Id.eq(m.ticket_id));
    let insert = Query::insert()
        .into_table(timer_outcome::Entity)
        .columns([
            C::TimerId,
            C::TicketId,
            C::Kind,
            C::Cycle,
            C::Level,
            C::Outcome,
            C::StartedAt,
            C::DueAt,
            C::MetAt,
            C::FinishedAt,
            C::Breached,
            C::PausedSecs,
            C::LateSecs,
            C::PolicyVersionId,
            C::CalendarVersionId,
            C::RecordedAt,
            C::CustomerId,
        ])
        .select_from(customer)
        .map_err(Error::internal)?
        .on_conflict(OnConflict::column(C::TimerId).do_nothing().to_owned())
        .to_owned();
    let written = db.execute(&insert).await?;
    if written.rows_affected() != 1 {
        return Err(Error::Internal(format!(
            "sla_timers, row {}: its outcome was not written (outcome already frozen, or ticket {} missing)",
            m.id, m.ticket_id
        )));
    }
    Ok(())
}

/// Outcomes copied by the migration lack the working-time figures, which need the calendar
/// engine: fills in up to `batch` of them (of one customer, or any), each once. Returns how many.
pub async fn fill_figures(
    db: &impl ConnectionTrait,
    versions: &Versions,
    customer_id: Option<i64>,
    batch: u64,
) -> Result<u64> {
    let mut q = timer_outcome::Entity::find().filter(timer_outcome::Column::LateSecs.is_null());
    if let Some(c) = customer_id {
        q = q.filter(timer_outcome::Column::CustomerId.eq(c));
    }
    let rows = q.limit(batch).all(db).await?;
    let n = rows.len() as u64;
    for row in rows {
        let Some(model) = sla_timer::Entity::find_by_id(row.timer_id).one(db).await? else {
            return Err(Error::Internal(format!("timer_outcomes, row {}: timer {} is missing", row.id, row.timer_id)));
        };
        let timer = Timer::from_model(db, versions, model).await?;
        let f = figures(&timer.calendar, &timer.history, row.due_at.map(secs), secs(row.finished_at))?;
        timer_outcome::Entity::update_many()
            .col_expr(timer_outcome::Column::PausedSecs, Expr::value(f.paused_secs))
            .col_expr(timer_outcome::Column::LateSecs, Expr::value(f.late_secs))
            .filter(timer_outcome::Column::Id.eq(row.id))
            .filter(timer_outcome::Column::LateSecs.is_null())
            .exec(db)
            .await?;
    }
    Ok(n)
}
