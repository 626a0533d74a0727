//! Firing a rule: one escalation event per (ticket, timer or event, cycle, rule, step), and one
//! outbox row per channel and recipient, written in the caller's transaction. Unique keys make a
//! second firing of the same step a no-op, whichever instance tries.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};

use super::super::error::Result;
use crate::domain::escalation::{Notify, On, Rule};
use crate::domain::sla::TimerKind;
use crate::domain::ticket::Role;
use crate::notify::render::{Payload, TicketRef};
use crate::persistence::entities::{contact, customer, escalation, escalation_event, outbox, team, ticket, user};
use crate::state::AppState;

/// What happened, to whom it is reported.
pub struct Occurrence<'a> {
    pub on: On,
    pub ticket: &'a ticket::Model,
    pub customer: &'a customer::Model,
    pub timer: Option<TimerKind>,
    /// The timer's cycle, or the ticket's version for ticket events.
    pub cycle: i32,
    pub step: u32,
    pub due_at: Option<DateTime<Utc>>,
    pub fire_at: DateTime<Utc>,
}

/// One resolved recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Recipient {
    Email { address: String, language: String },
    Webhook(String),
}

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";
pub const FOLDED: &str = "folded";

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}

/// The escalation chain of a timer cycle, created on first use.
pub async fn chain(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    timer: TimerKind,
    cycle: i32,
    now: DateTime<Utc>,
) -> Result<escalation::Model> {
    let am = escalation::ActiveModel {
        ticket_id: Set(ticket_id),
        timer: Set(timer.to_string()),
        cycle: Set(cycle),
        acked_at: Set(None),
        acked_by: Set(None),
        created_at: Set(now),
        ..Default::default()
    };
    escalation::Entity::insert(am)
        .on_conflict(
            OnConflict::columns([escalation::Column::TicketId, escalation::Column::Timer, escalation::Column::Cycle])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    escalation::Entity::find()
        .filter(escalation::Column::TicketId.eq(ticket_id))
        .filter(escalation::Column::Timer.eq(timer.to_string()))
        .filter(escalation::Column::Cycle.eq(cycle))
        .one(db)
        .await?
        .ok_or_else(|| super::super::Error::Internal("escalation chain vanished".into()))
}

/// Fires `rule` for `occ` once. Returns how many outbox rows it wrote (0 when this step had
/// already fired).
pub async fn fire(
    db: &impl ConnectionTrait,
    state: &AppState,
    rule: &Rule,
    occ: &Occurrence<'_>,
    now: DateTime<Utc>,
) -> Result<u32> {
    let t = occ.ticket;
    let what = match occ.timer {
        Some(k) if occ.on.is_timed() => k.to_string(),
        _ => format!("event:{}", occ.on),
    };
    let event_key = format!("{}:{what}:{}:{}:{}", t.id, occ.cycle, rule.key, occ.step);
    let esc = match occ.timer {
        Some(k) if occ.on.is_timed() => Some(chain(db, t.id, k, occ.cycle, now).await?),
        _ => None,
    };
    let inserted = escalation_event::Entity::insert(escalation_event::ActiveModel {
        event_key: Set(event_key.clone()),
        escalation_id: Set(esc.as_ref().map(|e| e.id)),
        ticket_id: Set(t.id),
        on_event: Set(occ.on.to_string()),
        timer: Set(occ.timer.map(|k| k.to_string())),
        cycle: Set(occ.cycle),
        rule: Set(rule.key.clone()),
        step: Set(occ.step as i32),
        fire_at: Set(occ.fire_at),
        due_at: Set(occ.due_at),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(OnConflict::column(escalation_event::Column::EventKey).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    if inserted == 0 {
        return Ok(0);
    }
    let event = escalation_event::Entity::find()
        .filter(escalation_event::Column::EventKey.eq(event_key.clone()))
        .one(db)
        .await?
        .ok_or_else(|| super::super::Error::Internal("escalation event vanished".into()))?;
    let payload = Payload {
        kind: occ.on.webhook_type().into(),
        id: format!("evt_{}", short_hash(&event_key)),
        occurred_at: occ.fire_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        escalation_id: esc.as_ref().map(|e| e.id),
        ticket: TicketRef {
            id: t.id,
            number: t.number.clone(),
            level: t.level.clone(),
            title: t.title.clone(),
            customer: occ.customer.name.clone(),
        },
        timer: occ.timer.map(|k| k.to_string()),
        due_at: occ.due_at.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        rule: Some(rule.key.clone()),
        step: Some(occ.step),
        acknowledged_by: None,
        language: None,
    };
    let mut written = 0;
    for target in &rule.notify {
        let recipients = resolve(db, state, target, t, occ.fire_at).await?;
        if recipients.is_empty() {
            let key = format!("{event_key}:none:{target}");
            write(
                db,
                &key,
                &event,
                esc.as_ref().map(|e| e.id),
                t.id,
                "none",
                &target.to_string(),
                "notification",
                &payload,
                DEAD,
                Some("no_recipient"),
                now,
            )
            .await?;
            written += 1;
            continue;
        }
        for r in recipients {
            match r {
                Recipient::Webhook(name) => {
                    let key = format!("{event_key}:webhook:{name}");
                    write(
                        db,
                        &key,
                        &event,
                        esc.as_ref().map(|e| e.id),
                        t.id,
                        "webhook",
                        &name,
                        "notification",
                        &payload,
                        PENDING,
                        None,
                        now,
                    )
                    .await?;
                }
                Recipient::Email { address, language } => {
                    let key = format!("{event_key}:email:{address}");
                    let mut p = payload.clone();
                    p.language = Some(language);
                    p.id = format!("evt_{}", short_hash(&key));
                    email(db, state, &key, &event, esc.as_ref().map(|e| e.id), t.id, &address, &p, now).await?;
                }
            }
            written += 1;
        }
    }
    state.wake_delivery.notify_one();
    Ok(written)
}

#[allow(clippy::too_many_arguments)]
async fn write(
    db: &impl ConnectionTrait,
    key: &str,
    event: &escalation_event::Model,
    escalation_id: Option<i64>,
    ticket_id: i64,
    channel: &str,
    target: &str,
    kind: &str,
    payload: &Payload,
    status: &str,
    dead_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let n = outbox::Entity::insert(outbox::ActiveModel {
        outbox_key: Set(key.to_string()),
        event_id: Set(Some(event.id)),
        escalation_id: Set(escalation_id),
        ticket_id: Set(Some(ticket_id)),
        channel: Set(channel.into()),
        target: Set(target.into()),
        kind: Set(kind.into()),
        payload: Set(serde_json::to_string(payload).unwrap_or_default()),
        status: Set(status.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        last_error: Set(None),
        dead_reason: Set(dead_reason.map(String::from)),
        digest_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(None),
        ..Default::default()
    })
    .on_conflict(OnConflict::column(outbox::Column::OutboxKey).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    if n == 0 {
        return Ok(None);
    }
    Ok(outbox::Entity::find().filter(outbox::Column::OutboxKey.eq(key)).one(db).await?.map(|o| o.id))
}

/// An e-mail row, or — past `notify.max_per_minute` mails to the address in the last minute — a
/// folded row gathered into that minute's digest.
#[allow(clippy::too_many_arguments)]
async fn email(
    db: &impl ConnectionTrait,
    state: &AppState,
    key: &str,
    event: &escalation_event::Model,
    escalation_id: Option<i64>,
    ticket_id: i64,
    address: &str,
    payload: &Payload,
    now: DateTime<Utc>,
) -> Result<()> {
    let recent = outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("email"))
        .filter(outbox::Column::Target.eq(address))
        .filter(outbox::Column::Kind.eq("notification"))
        .filter(outbox::Column::Status.ne(FOLDED))
        .filter(outbox::Column::CreatedAt.gt(now - Duration::seconds(60)))
        .count(db)
        .await?;
    if recent < u64::from(state.config.settings.notify.max_per_minute) {
        write(db, key, event, escalation_id, ticket_id, "email", address, "notification", payload, PENDING, None, now)
            .await?;
        return Ok(());
    }
    let bucket = now.timestamp().div_euclid(60);
    let digest_key = format!("digest:{address}:{bucket}");
    let digest_payload =
        Payload { kind: "digest".into(), id: format!("dig_{}", short_hash(&digest_key)), ..payload.clone() };
    let send_at = chrono::DateTime::from_timestamp((bucket + 1) * 60, 0).unwrap_or(now);
    outbox::Entity::insert(outbox::ActiveModel {
        outbox_key: Set(digest_key.clone()),
        event_id: Set(None),
        escalation_id: Set(None),
        ticket_id: Set(None),
        channel: Set("email".into()),
        target: Set(address.into()),
        kind: Set("digest".into()),
        payload: Set(serde_json::to_string(&digest_payload).unwrap_or_default()),
        status: Set(PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(send_at),
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
    .exec_without_returning(db)
    .await?;
    let digest = outbox::Entity::find().filter(outbox::Column::OutboxKey.eq(digest_key)).one(db).await?;
    if let Some(id) =
        write(db, key, event, escalation_id, ticket_id, "email", address, "notification", payload, FOLDED, None, now)
            .await?
    {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::DigestId, sea_orm::sea_query::Expr::value(digest.map(|d| d.id)))
            .filter(outbox::Column::Id.eq(id))
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn user_emails(db: &impl ConnectionTrait, users: Vec<user::Model>) -> Vec<Recipient> {
    let _ = db;
    users
        .into_iter()
        .filter(|u| u.active)
        .filter_map(|u| u.email.map(|e| Recipient::Email { address: e, language: u.language }))
        .collect()
}

async fn resolve(
    db: &impl ConnectionTrait,
    state: &AppState,
    target: &Notify,
    t: &ticket::Model,
    at: DateTime<Utc>,
) -> Result<Vec<Recipient>> {
    let by_role = |role: Role| {
        user::Entity::find().filter(user::Column::Role.eq(role.as_str())).filter(user::Column::Active.eq(true)).all(db)
    };
    Ok(match target {
        Notify::Assignee => {
            if let Some(u) = match t.assignee_id {
                Some(id) => user::Entity::find_by_id(id).one(db).await?.filter(|u| u.active && u.email.is_some()),
                None => None,
            } {
                user_emails(db, vec![u]).await
            } else {
                let lead = match t.team_id {
                    Some(id) => match team::Entity::find_by_id(id).one(db).await?.and_then(|tm| tm.lead_username) {
                        Some(name) => user::Entity::find().filter(user::Column::Username.eq(name)).one(db).await?,
                        None => None,
                    },
                    None => None,
                };
                match lead.filter(|u| u.active && u.email.is_some()) {
                    Some(u) => user_emails(db, vec![u]).await,
                    None => user_emails(db, by_role(Role::Lead).await?).await,
                }
            }
        }
        Notify::Role(role) => user_emails(db, by_role(*role).await?).await,
        Notify::Team(name) => {
            let Some(tm) = team::Entity::find().filter(team::Column::Name.eq(name)).one(db).await? else {
                return Ok(vec![]);
            };
            match tm.email {
                Some(e) => vec![Recipient::Email { address: e, language: "zh-CN".into() }],
                None => {
                    user_emails(db, user::Entity::find().filter(user::Column::TeamId.eq(tm.id)).all(db).await?).await
                }
            }
        }
        Notify::Oncall(name) => match state.config.runtime.escalation.on_duty(name, at.timestamp()) {
            Some(username) => {
                let u = user::Entity::find().filter(user::Column::Username.eq(username)).one(db).await?;
                user_emails(db, u.into_iter().collect()).await
            }
            None => vec![],
        },
        Notify::Email(address) => vec![Recipient::Email { address: address.clone(), language: "zh-CN".into() }],
        Notify::Webhook(name) => vec![Recipient::Webhook(name.clone())],
        Notify::Contact => match t.contact_id {
            Some(id) => contact::Entity::find_by_id(id)
                .one(db)
                .await?
                .filter(|c| c.active)
                .map(|c| vec![Recipient::Email { address: c.email, language: c.language }])
                .unwrap_or_default(),
            None => vec![],
        },
    })
}

/// Fires every event rule (`opened`, `responded`, …) that matches a ticket action, in the
/// action's transaction.
pub async fn ticket_event(
    db: &impl ConnectionTrait,
    state: &AppState,
    on: On,
    t: &ticket::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    let rules: Vec<&Rule> = state.config.runtime.escalation.rules.iter().filter(|r| r.on == on).collect();
    if rules.is_empty() {
        return Ok(());
    }
    let Some(cust) = customer::Entity::find_by_id(t.customer_id).one(db).await? else { return Ok(()) };
    let level = t.level.parse().unwrap_or(crate::domain::level::Level::III);
    let subject = crate::domain::escalation::Subject { timer: None, level, tier: &cust.tier, customer_key: &cust.key };
    for rule in rules.into_iter().filter(|r| r.matches(on, &subject)) {
        let occ = Occurrence {
            on,
            ticket: t,
            customer: &cust,
            timer: None,
            cycle: t.version,
            step: 0,
            due_at: None,
            fire_at: now,
        };
        fire(db, state, rule, &occ, now).await?;
    }
    Ok(())
}
