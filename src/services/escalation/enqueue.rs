//! Firing a rule: one escalation event per (ticket, timer or event, cycle, rule, step), and one
//! outbox row per channel and recipient, written in the caller's transaction. Unique keys make a
//! second firing of the same step a no-op, whichever instance tries.

use crate::metrics::{Fact, Tally};
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};

use super::super::error::Result;
use super::recipients::{Recipient, RecipientCache};
use crate::domain::escalation::{On, Rule};
use crate::domain::sla::TimerKind;
use crate::notify::render::{Payload, TicketRef};
use crate::persistence::bulk::{self, ChainKey};
use crate::persistence::entities::{customer, escalation, escalation_event, outbox, ticket};
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

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";
pub const FOLDED: &str = "folded";

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}

/// Fires `rule` for `occ` once. Returns how many outbox rows it wrote (0 when this step had
/// already fired).
pub async fn fire(
    db: &impl ConnectionTrait,
    state: &AppState,
    rule: &Rule,
    occ: &Occurrence<'_>,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<u32> {
    Ok(fire_all(db, state, &[(rule, occ)], now, None, tally).await?.written)
}

impl Occurrence<'_> {
    /// The escalation chain a timed firing belongs to; ticket events have none.
    fn chain_key(&self) -> Option<ChainKey> {
        self.timer.filter(|_| self.on.is_timed()).map(|k| (self.ticket.id, k.to_string(), self.cycle))
    }
}

fn event_key(rule: &Rule, occ: &Occurrence) -> String {
    let what = match occ.timer {
        Some(k) if occ.on.is_timed() => k.to_string(),
        _ => format!("event:{}", occ.on),
    };
    format!("{}:{what}:{}:{}:{}", occ.ticket.id, occ.cycle, rule.key, occ.step)
}

/// What `fire_all` wrote.
#[derive(Debug, Default)]
pub struct Fired {
    /// Outbox rows written.
    pub written: u32,
    /// The rows written leased to this instance (with `lease`), to hand to its delivery once the
    /// transaction commits.
    pub leased: Vec<outbox::Model>,
}

/// What the sweep knows about the batch it fires for.
pub struct FromSweep<'a> {
    /// Rows due now are written leased to this instance until then, for its delivery.
    pub lease: Option<DateTime<Utc>>,
    /// The chains of the batch's tickets when the batch was claimed: a timed firing whose chain
    /// did not exist then has not fired before.
    pub chains: &'a HashMap<ChainKey, escalation::Model>,
}

/// Fires many rules at once — what the sweep found due in one batch — with a handful of
/// statements whatever the batch size: chains, events and outbox rows are each inserted in bulk,
/// `ON CONFLICT DO NOTHING`, and only the events actually inserted produce outbox rows.
pub async fn fire_all(
    db: &impl ConnectionTrait,
    state: &AppState,
    firings: &[(&Rule, &Occurrence<'_>)],
    now: DateTime<Utc>,
    sweep: Option<&FromSweep<'_>>,
    tally: &mut Tally,
) -> Result<Fired> {
    // Steps that already fired are dropped first (a sweep sees a fired step again until the
    // timer's next firing, e.g. when it returns to record the breach): one read instead of three
    // writes that would each conflict — and no read when none of the firings can have fired yet.
    // A firing racing this read still ends at the unique keys.
    let keyed: Vec<(&Rule, &Occurrence, String)> =
        firings.iter().map(|(rule, occ)| (*rule, *occ, event_key(rule, occ))).collect();
    let maybe_fired: Vec<String> = keyed
        .iter()
        .filter(|(_, o, _)| match (sweep, o.chain_key()) {
            (Some(s), Some(chain)) => s.chains.contains_key(&chain),
            _ => true,
        })
        .map(|(_, _, k)| k.clone())
        .collect();
    let fired = bulk::existing_event_keys(db, &maybe_fired).await?;
    let firings: Vec<(&Rule, &Occurrence, String)> = keyed.into_iter().filter(|(_, _, k)| !fired.contains(k)).collect();
    if firings.is_empty() {
        return Ok(Fired::default());
    }
    let t0 = std::time::Instant::now();
    // Chains of the timed firings.
    let mut chain_keys: Vec<ChainKey> = firings.iter().filter_map(|(_, o, _)| o.chain_key()).collect();
    chain_keys.sort();
    chain_keys.dedup();
    let mut chains: HashMap<ChainKey, i64> = HashMap::new();
    if !chain_keys.is_empty() {
        // The chains created now come back with their ids; only those that existed are read.
        for (id, key) in bulk::insert_chains(db, &chain_keys, now).await? {
            chains.insert(key, id);
        }
        let ids: Vec<i64> = chain_keys.iter().filter(|k| !chains.contains_key(*k)).map(|(t, _, _)| *t).collect();
        if !ids.is_empty() {
            for e in
                escalation::Entity::find().filter(bulk::id_in(db, escalation::Column::TicketId, ids)).all(db).await?
            {
                chains.insert((e.ticket_id, e.timer, e.cycle), e.id);
            }
        }
    }
    tracing::trace!(ms = t0.elapsed().as_millis() as u64, "fire: chains");
    let chain_of = |o: &Occurrence| o.chain_key().and_then(|k| chains.get(&k).copied());
    // Events: only those this call inserts go on to notify.
    let mut by_key: HashMap<String, (&Rule, &Occurrence)> = HashMap::new();
    let mut models = Vec::new();
    for (rule, occ, key) in firings {
        if by_key.insert(key.clone(), (rule, occ)).is_some() {
            continue;
        }
        models.push(escalation_event::Model {
            id: 0,
            event_key: key,
            escalation_id: chain_of(occ),
            ticket_id: occ.ticket.id,
            on_event: occ.on.to_string(),
            timer: occ.timer.map(|k| k.to_string()),
            cycle: occ.cycle,
            rule: rule.key.clone(),
            step: occ.step as i32,
            fire_at: occ.fire_at,
            due_at: occ.due_at,
            created_at: now,
        });
    }
    let inserted = bulk::insert_events(db, &models).await?;
    tracing::trace!(ms = t0.elapsed().as_millis() as u64, "fire: events");
    let mut rows: Vec<outbox::Model> = Vec::new();
    let mut recipients = RecipientCache::default();
    let mut mail_counts: HashMap<String, u64> = HashMap::new();
    let mut digests: HashMap<String, i64> = HashMap::new();
    for event in &inserted {
        let Some((rule, occ)) = by_key.get(&event.event_key) else { continue };
        tally.push(Fact::Escalation {
            on: event.on_event.clone(),
            timer: event.timer.clone(),
            level: occ.ticket.level.clone(),
        });
        let t = occ.ticket;
        let esc = event.escalation_id;
        let payload = Payload {
            kind: occ.on.webhook_type().into(),
            id: format!("evt_{}", short_hash(&event.event_key)),
            occurred_at: occ.fire_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            escalation_id: esc,
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
        for target in &rule.notify {
            let found = recipients.resolve(db, state, target, t, occ.fire_at).await?;
            if found.is_empty() {
                rows.push(row(
                    &format!("{}:none:{target}", event.event_key),
                    event.id,
                    esc,
                    t.id,
                    "none",
                    &target.to_string(),
                    "notification",
                    &payload,
                    DEAD,
                    Some("no_recipient"),
                    None,
                    now,
                ));
                continue;
            }
            for r in found {
                match r {
                    Recipient::Webhook(name) => {
                        rows.push(row(
                            &format!("{}:webhook:{name}", event.event_key),
                            event.id,
                            esc,
                            t.id,
                            "webhook",
                            &name,
                            "notification",
                            &payload,
                            PENDING,
                            None,
                            None,
                            now,
                        ));
                    }
                    Recipient::Email { address, language } => {
                        let key = format!("{}:email:{address}", event.event_key);
                        let mut p = payload.clone();
                        p.language = Some(language);
                        p.id = format!("evt_{}", short_hash(&key));
                        let sent = match mail_counts.get(&address) {
                            Some(n) => *n,
                            None => recent_mails(db, &address, now).await?,
                        };
                        mail_counts.insert(address.clone(), sent + 1);
                        if sent < u64::from(state.config.settings.notify.max_per_minute) {
                            rows.push(row(
                                &key,
                                event.id,
                                esc,
                                t.id,
                                "email",
                                &address,
                                "notification",
                                &p,
                                PENDING,
                                None,
                                None,
                                now,
                            ));
                        } else {
                            let digest = match digests.get(&address) {
                                Some(id) => *id,
                                None => {
                                    let id = digest_for(db, &address, &p, now).await?;
                                    digests.insert(address.clone(), id);
                                    id
                                }
                            };
                            rows.push(row(
                                &key,
                                event.id,
                                esc,
                                t.id,
                                "email",
                                &address,
                                "notification",
                                &p,
                                FOLDED,
                                None,
                                Some(digest),
                                now,
                            ));
                        }
                    }
                }
            }
        }
    }
    let written = rows.len() as u32;
    tracing::trace!(ms = t0.elapsed().as_millis() as u64, "fire: rows built");
    if let Some(lease) = sweep.and_then(|s| s.lease) {
        for r in rows.iter_mut().filter(|r| r.status == PENDING && r.next_attempt_at <= now) {
            r.locked_until = Some(lease);
            r.attempts = 1;
        }
    }
    let inserted: HashMap<String, i64> =
        bulk::insert_outbox(db, &rows).await?.into_iter().map(|(id, k)| (k, id)).collect();
    let leased = rows
        .into_iter()
        .filter(|r| r.locked_until.is_some())
        .filter_map(|mut r| {
            r.id = *inserted.get(&r.outbox_key)?;
            Some(r)
        })
        .collect();
    // The caller wakes the delivery loop after its transaction commits: woken earlier, the loop
    // would find nothing and sleep.
    Ok(Fired { written, leased })
}

#[allow(clippy::too_many_arguments)]
fn row(
    key: &str,
    event_id: i64,
    escalation_id: Option<i64>,
    ticket_id: i64,
    channel: &str,
    target: &str,
    kind: &str,
    payload: &Payload,
    status: &str,
    dead_reason: Option<&str>,
    digest_id: Option<i64>,
    now: DateTime<Utc>,
) -> outbox::Model {
    outbox::Model {
        id: 0,
        outbox_key: key.to_string(),
        event_id: Some(event_id),
        escalation_id,
        ticket_id: Some(ticket_id),
        channel: channel.into(),
        target: target.into(),
        kind: kind.into(),
        payload: serde_json::to_string(payload).unwrap_or_default(),
        status: status.into(),
        attempts: 0,
        next_attempt_at: now,
        locked_until: None,
        last_error: None,
        dead_reason: dead_reason.map(String::from),
        digest_id,
        created_at: now,
        updated_at: now,
        delivered_at: None,
    }
}

/// Mails queued for `address` in the last minute (folded ones do not count: they went into a
/// digest).
async fn recent_mails(db: &impl ConnectionTrait, address: &str, now: DateTime<Utc>) -> Result<u64> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("email"))
        .filter(outbox::Column::Target.eq(address))
        .filter(outbox::Column::Kind.eq("notification"))
        .filter(outbox::Column::Status.ne(FOLDED))
        .filter(outbox::Column::CreatedAt.gt(now - Duration::seconds(60)))
        .count(db)
        .await?)
}

/// The digest gathering this minute's folded mail to `address`, sent when the minute ends.
async fn digest_for(db: &impl ConnectionTrait, address: &str, sample: &Payload, now: DateTime<Utc>) -> Result<i64> {
    let bucket = now.timestamp().div_euclid(60);
    let digest_key = format!("digest:{address}:{bucket}");
    let payload = Payload { kind: "digest".into(), id: format!("dig_{}", short_hash(&digest_key)), ..sample.clone() };
    let send_at = chrono::DateTime::from_timestamp((bucket + 1) * 60, 0).unwrap_or(now);
    let mut r = row(&digest_key, 0, None, 0, "email", address, "digest", &payload, PENDING, None, None, now);
    r.event_id = None;
    r.ticket_id = None;
    r.next_attempt_at = send_at;
    bulk::insert_outbox(db, &[r]).await?;
    outbox::Entity::find()
        .filter(outbox::Column::OutboxKey.eq(digest_key))
        .one(db)
        .await?
        .map(|d| d.id)
        .ok_or_else(|| super::super::Error::Internal("digest vanished".into()))
}

/// Fires every event rule (`opened`, `responded`, …) that matches a ticket action, in the
/// action's transaction.
pub async fn ticket_event(
    db: &impl ConnectionTrait,
    state: &AppState,
    on: On,
    t: &ticket::Model,
    now: DateTime<Utc>,
    tally: &mut Tally,
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
        fire(db, state, rule, &occ, now, tally).await?;
    }
    Ok(())
}
