//! Acknowledging an escalation chain (ticket, timer, cycle): repeats and later tiers stop, and
//! every webhook endpoint that heard about the chain hears about the acknowledgement. Mail carries
//! a signed, expiring link to a confirmation page whose POST acknowledges (mail scanners follow
//! GET links, so GET never acknowledges).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;

use super::super::error::{Error, Result};
use super::super::tickets::{self, Also, ChangeRequest, Work};
use crate::domain::actor::Actor;
use crate::domain::delivery::{Channel, DeliveryStatus, MessageKind};
use crate::domain::ticket::{Change, Note};
use crate::notify::render::Payload;
use crate::persistence::entities::{escalation, outbox, sla_timer, ticket};
use crate::state::AppState;

/// Acknowledges chain `id` as `actor`; acknowledging twice changes nothing. The ticket's log
/// records it (a ticket change like any other).
pub async fn acknowledge(state: &AppState, id: i64, actor: &Actor, now: DateTime<Utc>) -> Result<escalation::Model> {
    let esc = escalation::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("escalation_not_found", "escalation"))?;
    if esc.acked_at.is_none() {
        let change = Change::Note {
            note: Note::EscalationAcknowledged,
            detail: json!({"escalation_id": id, "timer": esc.timer, "cycle": esc.cycle}),
            comment: None,
        };
        let acked = Acknowledged { chain: &esc, by: actor.name() };
        tickets::change_with(state, actor, ChangeRequest::new(esc.ticket_id, change), &acked, now).await?;
    }
    escalation::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("escalation_not_found", "escalation"))
}

/// The chain marked acknowledged (unless someone did first), every webhook endpoint that heard
/// of it told, and its timer handed back to the sweep.
struct Acknowledged<'a> {
    chain: &'a escalation::Model,
    by: &'a str,
}

impl Also for Acknowledged<'_> {
    async fn write(&self, work: &mut Work<'_>, _: &ticket::Model) -> Result<bool> {
        let (esc, now) = (self.chain, work.now);
        let marked = escalation::Entity::update_many()
            .col_expr(escalation::Column::AckedAt, Expr::value(Some(now)))
            .col_expr(escalation::Column::AckedBy, Expr::value(Some(self.by.to_string())))
            .filter(escalation::Column::Id.eq(esc.id))
            .filter(escalation::Column::AckedAt.is_null())
            .exec(&work.txn)
            .await?;
        if marked.rows_affected != 1 {
            return Ok(false);
        }
        self.tell_webhooks(work).await?;
        // The sweep looks at the timer again and finds only what an acknowledgement still allows.
        sla_timer::Entity::update_many()
            .col_expr(sla_timer::Column::NextFireAt, Expr::value(Some(now)))
            .filter(sla_timer::Column::TicketId.eq(esc.ticket_id))
            .filter(sla_timer::Column::Kind.eq(esc.timer))
            .filter(sla_timer::Column::Cycle.eq(esc.cycle))
            .filter(sla_timer::Column::Outcome.is_null())
            .exec(&work.txn)
            .await?;
        work.scheduled(Some(now));
        Ok(true)
    }
}

impl Acknowledged<'_> {
    async fn tell_webhooks(&self, work: &mut Work<'_>) -> Result<()> {
        let (id, now) = (self.chain.id, work.now);
        let heard: Vec<(String, String)> = outbox::Entity::find()
            .filter(outbox::Column::EscalationId.eq(id))
            .filter(outbox::Column::Channel.eq(Channel::Webhook))
            .filter(outbox::Column::Kind.eq(MessageKind::Notification))
            .select_only()
            .column(outbox::Column::Target)
            .column(outbox::Column::Payload)
            .into_tuple()
            .all(&work.txn)
            .await?;
        let mut seen = std::collections::BTreeSet::new();
        for (endpoint, payload) in heard {
            if !seen.insert(endpoint.clone()) {
                continue;
            }
            let mut p: Payload = serde_json::from_str(&payload)
                .map_err(|e| Error::Internal(format!("outbox payload of chain {id} is unreadable: {e}")))?;
            p.kind = crate::notify::render::Notice::Acknowledged;
            p.id = crate::domain::delivery::new_message_id("ack");
            p.occurred_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            p.rule = None;
            p.step = None;
            p.acknowledged_by = Some(self.by.to_string());
            outbox::Entity::insert(outbox::ActiveModel {
                outbox_key: Set(format!("ack:{id}:{endpoint}")),
                event_id: Set(None),
                escalation_id: Set(Some(id)),
                ticket_id: Set(Some(self.chain.ticket_id)),
                channel: Set(Channel::Webhook),
                target: Set(endpoint),
                kind: Set(MessageKind::Acknowledged),
                payload: Set(serde_json::to_string(&p).map_err(Error::internal)?),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(now),
                locked_until: Set(None),
                locked_by: Set(None),
                last_error: Set(None),
                dead_reason: Set(None),
                digest_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                delivered_at: Set(None),
                ..Default::default()
            })
            .on_conflict(OnConflict::column(outbox::Column::OutboxKey).do_nothing().to_owned())
            .exec_without_returning(&work.txn)
            .await?;
            work.queued();
        }
        Ok(())
    }
}

pub async fn is_acknowledged(state: &AppState, id: i64) -> Result<bool> {
    Ok(escalation::Entity::find_by_id(id).one(&state.db).await?.is_some_and(|e| e.acked_at.is_some()))
}
