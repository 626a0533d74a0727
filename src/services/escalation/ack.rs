//! Acknowledging an escalation chain (ticket, timer, cycle): repeats and later tiers stop, and
//! every webhook endpoint that heard about the chain hears about the acknowledgement. Mail carries
//! a signed, expiring link to a confirmation page whose POST acknowledges (mail scanners follow
//! GET links, so GET never acknowledges).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use serde_json::json;

use super::super::error::{Error, Result};
use super::enqueue::PENDING;
use crate::notify::render::Payload;
use crate::notify::signing::mac;
use crate::persistence::entities::{escalation, outbox, sla_timer};
use crate::state::AppState;

/// Acknowledges chain `id` as `by`; acknowledging twice changes nothing.
pub async fn acknowledge(state: &AppState, id: i64, by: &str, now: DateTime<Utc>) -> Result<escalation::Model> {
    let txn = state.db.begin().await?;
    let esc = escalation::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("escalation_not_found", "escalation"))?;
    if esc.acked_at.is_some() {
        txn.commit().await?;
        return Ok(esc);
    }
    let mut am: escalation::ActiveModel = esc.clone().into();
    am.acked_at = Set(Some(now));
    am.acked_by = Set(Some(by.to_string()));
    let esc = am.update(&txn).await?;
    let heard: Vec<(String, String)> = outbox::Entity::find()
        .filter(outbox::Column::EscalationId.eq(id))
        .filter(outbox::Column::Channel.eq("webhook"))
        .filter(outbox::Column::Kind.eq("notification"))
        .select_only()
        .column(outbox::Column::Target)
        .column(outbox::Column::Payload)
        .into_tuple()
        .all(&txn)
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    for (endpoint, payload) in heard {
        if !seen.insert(endpoint.clone()) {
            continue;
        }
        let Ok(mut p) = serde_json::from_str::<Payload>(&payload) else { continue };
        let key = format!("ack:{id}:{endpoint}");
        p.kind = "escalation.acknowledged".into();
        p.id = format!("ack_{id}_{endpoint}");
        p.occurred_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        p.rule = None;
        p.step = None;
        p.acknowledged_by = Some(by.to_string());
        outbox::Entity::insert(outbox::ActiveModel {
            outbox_key: Set(key),
            event_id: Set(None),
            escalation_id: Set(Some(id)),
            ticket_id: Set(Some(esc.ticket_id)),
            channel: Set("webhook".into()),
            target: Set(endpoint),
            kind: Set("acknowledged".into()),
            payload: Set(serde_json::to_string(&p).unwrap_or_default()),
            status: Set(PENDING.into()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            locked_until: Set(None),
            last_error: Set(None),
            dead_reason: Set(None),
            digest_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            delivered_at: Set(None),
            ..Default::default()
        })
        .on_conflict(OnConflict::column(outbox::Column::OutboxKey).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    }
    // The sweep looks at the timer again and finds only what an acknowledgement still allows.
    sla_timer::Entity::update_many()
        .col_expr(sla_timer::Column::NextFireAt, Expr::value(Some(now)))
        .filter(sla_timer::Column::TicketId.eq(esc.ticket_id))
        .filter(sla_timer::Column::Kind.eq(esc.timer.clone()))
        .filter(sla_timer::Column::Cycle.eq(esc.cycle))
        .filter(sla_timer::Column::Outcome.is_null())
        .exec(&txn)
        .await?;
    crate::services::tickets::record_event(
        &txn,
        esc.ticket_id,
        by,
        "escalation_acknowledged",
        json!({"escalation_id": id, "timer": esc.timer, "cycle": esc.cycle}),
        now,
    )
    .await?;
    txn.commit().await?;
    state.wake_delivery.notify_one();
    Ok(esc)
}

pub async fn is_acknowledged(state: &AppState, id: i64) -> Result<bool> {
    Ok(escalation::Entity::find_by_id(id).one(&state.db).await?.is_some_and(|e| e.acked_at.is_some()))
}

/// A link token for chain `id`, valid until `expires`.
pub fn link_token(secret_key: &str, id: i64, expires: i64) -> String {
    let data = format!("{id}.{expires}");
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&data), mac(secret_key, &format!("ack.{data}")))
}

/// The chain a link token acknowledges, if the token is genuine and unexpired.
pub fn verify_token(secret_key: &str, token: &str, now: i64) -> Option<i64> {
    let (data, sig) = token.split_once('.')?;
    let data = String::from_utf8(URL_SAFE_NO_PAD.decode(data).ok()?).ok()?;
    let expected = mac(secret_key, &format!("ack.{data}"));
    if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), sig.as_bytes())) {
        return None;
    }
    let (id, expires) = data.split_once('.')?;
    let (id, expires): (i64, i64) = (id.parse().ok()?, expires.parse().ok()?);
    (now < expires).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_verify_until_they_expire_and_not_when_forged() {
        let t = link_token("k".repeat(32).as_str(), 42, 1000);
        assert_eq!(verify_token(&"k".repeat(32), &t, 999), Some(42));
        assert_eq!(verify_token(&"k".repeat(32), &t, 1000), None);
        assert_eq!(verify_token(&"x".repeat(32), &t, 999), None);
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode("43.1000"), t.split_once('.').unwrap().1);
        assert_eq!(verify_token(&"k".repeat(32), &forged, 999), None);
    }
}
