//! The customer's answer to a report (签字确认): acknowledged, or disputed with a reason — which
//! opens a level IV ticket (source `report`) for the account lead. One answer per report, on the
//! hash the customer saw; the first answer stands.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use utoipa::ToSchema;

use super::customer::{MAX_NOTE, ReportView, get};
use crate::domain::actor::Actor;
use crate::domain::level::Level;
use crate::domain::report::Decision;
use crate::domain::ticket::{Change, Source};
use crate::persistence::entities::{contact, customer, report as stored, ticket};
use crate::services::error::{Error, Result, chain};
use crate::services::tickets::{self, Also, ChangeRequest, NewTicket, Work, open_with};
use crate::state::AppState;

/// `POST /api/v1/reports/{id}/ack`, and the acknowledge page's form.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDecision {
    /// `acknowledged` or `disputed`.
    #[schema(value_type = String)]
    pub decision: Decision,
    /// Why, for a dispute (required then).
    #[serde(default)]
    pub reason: Option<String>,
    /// The report's SHA-256 as the customer saw it: an answer is on those bytes only.
    pub sha256: String,
}

/// Records contact `who`'s answer to report `id`.
pub async fn decide(
    state: &AppState,
    id: i64,
    who: &contact::Model,
    d: NewDecision,
    now: DateTime<Utc>,
) -> Result<ReportView> {
    let report = get(state, id).await?;
    if report.customer_id != who.customer_id || !who.active {
        return Err(Error::not_found("not_found", "report"));
    }
    if d.sha256.trim() != report.sha256 {
        return Err(Error::invalid("sha256", "this is not the report's hash: reload the report and answer again"));
    }
    if let Some(done) = report.decision {
        return Err(Error::conflict("already_decided", format!("the report was {done} already")));
    }
    let by = format!("{} <{}>", who.name, who.email);
    let reason = d.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let claim = Claim { report_id: id, decision: d.decision, by, sha256: report.sha256.clone(), reason, now };
    match d.decision {
        Decision::Acknowledged => {
            if !claim.exec(&state.db, None).await? {
                return Err(Error::conflict("already_decided", "the report was answered already"));
            }
        }
        Decision::Disputed => dispute(state, &report, who, &claim, now).await?,
    }
    tracing::info!(report = id, contact = who.id, decision = %d.decision, "report answered");
    get(state, id).await
}

async fn dispute(
    state: &AppState,
    report: &ReportView,
    who: &contact::Model,
    claim: &Claim,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(reason) = &claim.reason else {
        return Err(Error::invalid("reason", "say what is wrong with the report"));
    };
    if reason.chars().count() > MAX_NOTE {
        return Err(Error::invalid("reason", format!("at most {MAX_NOTE} characters")));
    }
    let p = &report.content.period;
    let input = NewTicket {
        customer_id: Some(report.customer_id),
        title: format!("Service report {} – {} disputed / 服务报告有异议", p.first_day, p.last_day),
        description: format!("{}\n\n{}: report {} (SHA-256 {})", reason, claim.by, report.id, report.sha256),
        level: Some(Level::IV),
        contact_id: Some(who.id),
        source: Some(Source::Report),
        reported_at: None,
    };
    let system = Actor::system("report dispute");
    let Some(opened) = open_with(state, &system, input, None, claim, now).await? else {
        return Err(Error::conflict("already_decided", "the report was answered already"));
    };
    // The account lead gets the ticket; a failure here leaves it unassigned, not lost.
    let lead = customer::Entity::find_by_id(report.customer_id).one(&state.db).await?.and_then(|c| c.account_lead_id);
    if let Some(lead) = lead {
        let assign = Change::Assign { assignee: Some(lead), team: None };
        if let Err(e) = tickets::change(state, &system, ChangeRequest::new(opened.ticket.id, assign), now).await {
            tracing::warn!(ticket = opened.ticket.id, error = %chain(&e), "disputed report's ticket not assigned");
        }
    }
    Ok(())
}

/// The answer, written once: only while the report has none.
struct Claim {
    report_id: i64,
    decision: Decision,
    by: String,
    sha256: String,
    reason: Option<String>,
    now: DateTime<Utc>,
}

impl Claim {
    async fn exec(&self, db: &impl ConnectionTrait, ticket_id: Option<i64>) -> Result<bool> {
        let done = stored::Entity::update_many()
            .col_expr(stored::Column::Decision, Expr::value(Some(self.decision)))
            .col_expr(stored::Column::DecidedAt, Expr::value(Some(self.now)))
            .col_expr(stored::Column::DecidedBy, Expr::value(Some(self.by.clone())))
            .col_expr(stored::Column::DecidedSha256, Expr::value(Some(self.sha256.clone())))
            .col_expr(stored::Column::DisputeReason, Expr::value(self.reason.clone()))
            .col_expr(stored::Column::DisputeTicketId, Expr::value(ticket_id))
            .filter(stored::Column::Id.eq(self.report_id))
            .filter(stored::Column::Decision.is_null())
            .exec(db)
            .await?;
        Ok(done.rows_affected == 1)
    }
}

impl Also for Claim {
    async fn write(&self, work: &mut Work<'_>, t: &ticket::Model) -> Result<bool> {
        self.exec(&work.txn, Some(t.id)).await
    }
}
