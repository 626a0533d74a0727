//! Comments: public or internal. A staff public comment meets the response (and moves an open
//! ticket to in progress); a contact's public comment resumes a ticket waiting for them.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::super::timers::{self, secs};
use super::writes::{meet, resume, save};
use super::{MAX_TEXT, Who, check_text, event, load_visible};
use crate::domain::sla::TimerKind;
use crate::domain::ticket::{Action, Status, allowed_actions};
use crate::metrics::Tally;
use crate::persistence::entities::{comment, ticket};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Public,
    Internal,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub body: String,
    #[serde(default)]
    pub visibility: Visibility,
    /// Also add this public comment to every child of this parent incident.
    #[serde(default)]
    pub copy_to_children: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommentView {
    pub id: i64,
    pub ticket_id: i64,
    /// user | contact | system
    pub author_kind: String,
    pub author_name: String,
    pub body: String,
    pub visibility: String,
    pub created_at: DateTime<Utc>,
}

impl From<comment::Model> for CommentView {
    fn from(c: comment::Model) -> Self {
        Self {
            id: c.id,
            ticket_id: c.ticket_id,
            author_kind: c.author_kind,
            author_name: c.author_name,
            body: c.body,
            visibility: c.visibility,
            created_at: c.created_at,
        }
    }
}

pub(crate) async fn insert_comment(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    who: Who<'_>,
    body: &str,
    visibility: &str,
    now: DateTime<Utc>,
) -> Result<comment::Model> {
    let (kind, user, contact, name) = match who {
        Who::Principal(Principal::Staff { user_id, display_name, .. }) => {
            ("user", Some(*user_id), None, display_name.clone())
        }
        Who::Principal(Principal::Contact { contact_id, name, .. }) => {
            ("contact", None, Some(*contact_id), name.clone())
        }
        Who::System(name) => ("system", None, None, name.to_string()),
    };
    Ok(comment::ActiveModel {
        ticket_id: Set(ticket_id),
        author_kind: Set(kind.into()),
        author_user_id: Set(user),
        author_contact_id: Set(contact),
        author_name: Set(name),
        body: Set(body.to_string()),
        visibility: Set(visibility.into()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn add_comment(
    state: &AppState,
    principal: &Principal,
    r: &str,
    input: NewComment,
    if_match: Option<i32>,
    now: DateTime<Utc>,
) -> Result<CommentView> {
    check_text("body", &input.body, MAX_TEXT)?;
    let is_contact = matches!(principal, Principal::Contact { .. });
    if is_contact && input.visibility == Visibility::Internal {
        return Err(Error::invalid("visibility", "customers write public comments only"));
    }
    if input.copy_to_children && input.visibility == Visibility::Internal {
        return Err(Error::invalid("copy_to_children", "only public comments are copied to children"));
    }
    if input.copy_to_children && is_contact {
        return Err(Error::forbidden("customers cannot copy comments to other tickets"));
    }
    for _ in 0..5 {
        let txn = state.db.begin().await?;
        let t = load_visible(&txn, principal, r).await?;
        if let Some(v) = if_match
            && v != t.version
        {
            return Err(Error::VersionMismatch { expected: v, current: t.version });
        }
        let mut tally = Tally::default();
        if let Some(c) = comment_on(state, &txn, principal, t.clone(), &input, now, &mut tally).await? {
            if input.copy_to_children {
                for child in ticket::Entity::find().filter(ticket::Column::ParentId.eq(t.id)).all(&txn).await? {
                    let status: Status = child.status.parse().map_err(Error::Internal)?;
                    if status.is_final() {
                        continue;
                    }
                    let copy = NewComment { copy_to_children: false, ..input.clone() };
                    if comment_on(state, &txn, principal, child, &copy, now, &mut tally).await?.is_none() {
                        return Err(Error::conflict(
                            "concurrent_update",
                            "a child ticket changed meanwhile; try again",
                        ));
                    }
                }
            }
            txn.commit().await?;
            state.metrics.record(tally);
            return Ok(c.into());
        }
        txn.rollback().await?;
        if let Some(v) = if_match {
            return Err(Error::VersionMismatch { expected: v, current: v + 1 });
        }
    }
    Err(Error::conflict("concurrent_update", "the ticket is being changed by others; try again"))
}

/// Adds the comment and its SLA effects; `None` when the ticket changed underneath.
async fn comment_on(
    state: &AppState,
    txn: &DatabaseTransaction,
    principal: &Principal,
    t: ticket::Model,
    input: &NewComment,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<Option<comment::Model>> {
    let status: Status = t.status.parse().map_err(Error::Internal)?;
    if !Action::Comment.allowed_from(status) {
        return Err(Error::InvalidTransition {
            message: format!("comments are closed: the ticket is {status}"),
            status: status.to_string(),
            allowed_actions: allowed_actions(status, principal.actor(), false).iter().map(|a| a.to_string()).collect(),
        });
    }
    let who = Who::Principal(principal);
    let c = insert_comment(txn, t.id, who, &input.body, input.visibility.as_str(), now).await?;
    let mut timers = timers::load_current(txn, &state.versions, t.id).await?;
    let n = secs(now);
    for tm in timers.iter_mut() {
        tm.observe(n);
    }
    let mut am = t.clone().into_active_model();
    let public = input.visibility == Visibility::Public;
    match principal {
        Principal::Staff { .. } if public => {
            meet(&mut timers, &[TimerKind::Response], n)?;
            if status == Status::Open {
                am.status = Set(Status::InProgress.as_str().into());
            }
        }
        Principal::Contact { .. } if status == Status::WaitingCustomer => {
            resume(&mut timers, n)?;
            am.status = Set(Status::InProgress.as_str().into());
            am.waiting_since = Set(None);
            event(
                txn,
                t.id,
                who,
                "resumed",
                None,
                Some(json!({"status": "in_progress", "by": "customer comment"})),
                None,
                now,
            )
            .await?;
        }
        _ => {}
    }
    event(
        txn,
        t.id,
        who,
        "commented",
        None,
        Some(json!({"comment_id": c.id, "visibility": input.visibility})),
        None,
        now,
    )
    .await?;
    Ok(save(txn, am, &t, &mut timers, now, tally).await?.then_some(c))
}

pub async fn list_comments(state: &AppState, principal: &Principal, r: &str) -> Result<Vec<CommentView>> {
    let t = load_visible(&state.db, principal, r).await?;
    let mut q = comment::Entity::find().filter(comment::Column::TicketId.eq(t.id));
    if matches!(principal, Principal::Contact { .. }) {
        q = q.filter(comment::Column::Visibility.eq("public"));
    }
    Ok(q.order_by_asc(comment::Column::Id).all(&state.db).await?.into_iter().map(Into::into).collect())
}
