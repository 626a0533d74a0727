//! Firing a rule: one escalation event per (ticket, timer or event, cycle, rule, step), and one
//! outbox row per channel and recipient, written in the caller's transaction. Unique keys make a
//! second firing of the same step a no-op, whichever instance tries.

use crate::domain::delivery::{Channel, DeliveryStatus, MessageKind, new_message_id};
use crate::metrics::{Fact, Tally};
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::super::error::Result;
use super::recipients::{Recipient, RecipientCache};
use crate::domain::escalation::{On, Rule, Subject};
use crate::domain::sla::TimerKind;
use crate::notify::render::{Payload, TicketRef};
use crate::persistence::bulk::{self, ChainKey};
use crate::persistence::entities::{customer, escalation, escalation_event, outbox, ticket};
use crate::services::handoff::Handed;
use crate::services::tickets::Work;
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

impl Occurrence<'_> {
    /// The escalation chain a timed firing belongs to; ticket events have none.
    fn chain_key(&self) -> Option<ChainKey> {
        self.timer.filter(|_| self.on.is_timed()).map(|k| (self.ticket.id, k, self.cycle))
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
    pub leased: Vec<Handed>,
}

/// What the sweep knows about the batch it fires for.
pub struct FromSweep<'a> {
    /// Rows due now are written leased to this instance until then, for its delivery.
    pub lease: Option<DateTime<Utc>>,
    /// The chains of the batch's tickets when the batch was claimed: a timed firing whose chain
    /// did not exist then has not fired before.
    pub chains: &'a HashMap<ChainKey, escalation::Model>,
}

type Keyed<'a> = (&'a Rule, &'a Occurrence<'a>, String);

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
    let firings = unfired(db, firings, sweep).await?;
    if firings.is_empty() {
        return Ok(Fired::default());
    }
    let (chains, new_chains) = chains_for(db, &firings, now).await?;
    let mut by_key: HashMap<&str, (&Rule, &Occurrence)> = HashMap::new();
    let mut models = Vec::new();
    for (rule, occ, key) in &firings {
        if by_key.insert(key.as_str(), (*rule, *occ)).is_some() {
            continue;
        }
        models.push(escalation_event::Model {
            id: 0,
            event_key: key.clone(),
            escalation_id: occ.chain_key().and_then(|k| chains.get(&k).copied()),
            ticket_id: occ.ticket.id,
            on_event: occ.on.to_string(),
            timer: occ.timer,
            cycle: occ.cycle,
            rule: rule.key.clone(),
            step: occ.step as i32,
            fire_at: occ.fire_at,
            due_at: occ.due_at,
            created_at: now,
        });
    }
    // Only the events this call inserted go on to notify.
    let mut messages = Messages { now, ..Default::default() };
    for event in bulk::insert_events(db, &models).await? {
        let Some((rule, occ)) = by_key.get(event.event_key.as_str()) else { continue };
        tally.push(Fact::Escalation { on: occ.on, timer: occ.timer, level: occ.ticket.level });
        messages.add(db, state, &event, rule, occ).await?;
    }
    let mut rows = messages.rows;
    let written = rows.len() as u32;
    if let Some(lease) = sweep.and_then(|s| s.lease) {
        for r in rows.iter_mut().filter(|r| r.status == DeliveryStatus::Pending && r.next_attempt_at <= now) {
            r.locked_until = Some(lease);
            r.locked_by = Some(state.instance.id.clone());
        }
    }
    let inserted: HashMap<String, i64> =
        bulk::insert_outbox(db, &rows).await?.into_iter().map(|(id, k)| (k, id)).collect();
    // A row of a chain this call created, and its chain's first to its receiver, has nothing
    // to wait for: delivery need not look.
    let mut seen = std::collections::HashSet::new();
    let leased = rows
        .into_iter()
        .filter(|r| r.locked_until.is_some())
        .filter_map(|mut r| {
            r.id = *inserted.get(&r.outbox_key)?;
            let first = match r.escalation_id {
                None => true,
                Some(chain) => new_chains.contains(&chain) && seen.insert((chain, r.channel, r.target.clone())),
            };
            Some(Handed { row: r, first })
        })
        .collect();
    // The caller wakes the delivery loop after its transaction commits: woken earlier, the loop
    // would find nothing and sleep.
    Ok(Fired { written, leased })
}

/// The firings whose step has not fired yet. A sweep sees a fired step again until the timer's
/// next firing (when it returns to record the breach, say): one read instead of three writes
/// that would each conflict — and no read when none of the firings can have fired yet. A firing
/// racing this read still ends at the unique keys.
async fn unfired<'a>(
    db: &impl ConnectionTrait,
    firings: &'a [(&'a Rule, &'a Occurrence<'a>)],
    sweep: Option<&FromSweep<'_>>,
) -> Result<Vec<Keyed<'a>>> {
    let keyed: Vec<Keyed> = firings.iter().map(|(rule, occ)| (*rule, *occ, event_key(rule, occ))).collect();
    let maybe_fired: Vec<String> = keyed
        .iter()
        .filter(|(_, o, _)| match (sweep, o.chain_key()) {
            (Some(s), Some(chain)) => s.chains.contains_key(&chain),
            _ => true,
        })
        .map(|(_, _, k)| k.clone())
        .collect();
    let fired = bulk::existing_event_keys(db, &maybe_fired).await?;
    Ok(keyed.into_iter().filter(|(_, _, k)| !fired.contains(k)).collect())
}

/// The chains of the timed firings, by key: created now (their ids come back, and are the
/// second value) or read.
async fn chains_for(
    db: &impl ConnectionTrait,
    firings: &[Keyed<'_>],
    now: DateTime<Utc>,
) -> Result<(HashMap<ChainKey, i64>, std::collections::HashSet<i64>)> {
    let mut keys: Vec<ChainKey> = firings.iter().filter_map(|(_, o, _)| o.chain_key()).collect();
    keys.sort();
    keys.dedup();
    let mut chains: HashMap<ChainKey, i64> = HashMap::new();
    if keys.is_empty() {
        return Ok((chains, Default::default()));
    }
    for (id, key) in bulk::insert_chains(db, &keys, now).await? {
        chains.insert(key, id);
    }
    let created = chains.values().copied().collect();
    let ids: Vec<i64> = keys.iter().filter(|k| !chains.contains_key(*k)).map(|(t, _, _)| *t).collect();
    if !ids.is_empty() {
        for e in escalation::Entity::find().filter(bulk::id_in(db, escalation::Column::TicketId, ids)).all(db).await? {
            chains.insert((e.ticket_id, e.timer, e.cycle), e.id);
        }
    }
    Ok((chains, created))
}

/// One outbox row to write.
struct Message<'a> {
    key: String,
    event: &'a escalation_event::Model,
    channel: Channel,
    target: String,
    payload: &'a Payload,
    status: DeliveryStatus,
    dead_reason: Option<&'static str>,
    digest_id: Option<i64>,
}

impl Message<'_> {
    /// The row, with its own id in its payload (`new_message_id`): kept across retries.
    fn row(self, now: DateTime<Utc>) -> Result<outbox::Model> {
        let payload = Payload { id: new_message_id("evt"), ..self.payload.clone() };
        Ok(outbox::Model {
            id: 0,
            outbox_key: self.key,
            event_id: Some(self.event.id),
            escalation_id: self.event.escalation_id,
            ticket_id: Some(self.event.ticket_id),
            channel: self.channel,
            target: self.target,
            kind: MessageKind::Notification,
            payload: serde_json::to_string(&payload).map_err(super::super::Error::internal)?,
            status: self.status,
            attempts: 0,
            next_attempt_at: now,
            locked_until: None,
            locked_by: None,
            last_error: None,
            dead_reason: self.dead_reason.map(String::from),
            digest_id: self.digest_id,
            created_at: now,
            updated_at: now,
            delivered_at: None,
        })
    }
}

/// The outbox rows of one firing batch, with what the batch has already looked up: recipients,
/// mails per address this minute, digests.
#[derive(Default)]
struct Messages {
    now: DateTime<Utc>,
    rows: Vec<outbox::Model>,
    recipients: RecipientCache,
    mail_counts: HashMap<String, u64>,
    digests: HashMap<String, i64>,
}

impl Messages {
    /// One row per recipient of each of the rule's targets; a target that names nobody is a
    /// dead letter.
    async fn add(
        &mut self,
        db: &impl ConnectionTrait,
        state: &AppState,
        event: &escalation_event::Model,
        rule: &Rule,
        occ: &Occurrence<'_>,
    ) -> Result<()> {
        let payload = payload(event, rule, occ);
        for target in &rule.notify {
            let found = self.recipients.resolve(db, state, target, &occ.ticket.into(), occ.fire_at).await?;
            if found.is_empty() {
                let key = format!("{}:none:{target}", event.event_key);
                let m = Message {
                    key,
                    event,
                    channel: Channel::None,
                    target: target.to_string(),
                    payload: &payload,
                    status: DeliveryStatus::Dead,
                    dead_reason: Some("no_recipient"),
                    digest_id: None,
                };
                self.rows.push(m.row(self.now)?);
                continue;
            }
            for r in found {
                match r {
                    Recipient::Webhook(name) => {
                        let key = format!("{}:webhook:{name}", event.event_key);
                        let m = Message {
                            key,
                            event,
                            channel: Channel::Webhook,
                            target: name,
                            payload: &payload,
                            status: DeliveryStatus::Pending,
                            dead_reason: None,
                            digest_id: None,
                        };
                        self.rows.push(m.row(self.now)?);
                    }
                    Recipient::Email { address, language } => {
                        self.mail(db, state, event, &payload, address, language).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A mail, or — past `notify.max_per_minute` to the address — a line in that minute's digest.
    async fn mail(
        &mut self,
        db: &impl ConnectionTrait,
        state: &AppState,
        event: &escalation_event::Model,
        payload: &Payload,
        address: String,
        language: String,
    ) -> Result<()> {
        let key = format!("{}:email:{address}", event.event_key);
        let mut p = payload.clone();
        p.language = Some(language);
        let sent = match self.mail_counts.get(&address) {
            Some(n) => *n,
            None => recent_mails(db, &address, self.now).await?,
        };
        self.mail_counts.insert(address.clone(), sent + 1);
        let (status, digest_id) = if sent < u64::from(state.config.settings.notify.max_per_minute) {
            (DeliveryStatus::Pending, None)
        } else {
            let id = match self.digests.get(&address) {
                Some(id) => *id,
                None => {
                    let id = digest_for(db, &address, &p, self.now).await?;
                    self.digests.insert(address.clone(), id);
                    id
                }
            };
            (DeliveryStatus::Folded, Some(id))
        };
        let m = Message {
            key,
            event,
            channel: Channel::Email,
            target: address,
            payload: &p,
            status,
            dead_reason: None,
            digest_id,
        };
        self.rows.push(m.row(self.now)?);
        Ok(())
    }
}

/// What the receivers of a firing are told.
fn payload(event: &escalation_event::Model, rule: &Rule, occ: &Occurrence<'_>) -> Payload {
    let t = occ.ticket;
    Payload {
        kind: crate::notify::render::Notice::Event(occ.on),
        // Each outbox row has its own (`Message::row`).
        id: String::new(),
        occurred_at: occ.fire_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        escalation_id: event.escalation_id,
        ticket: TicketRef {
            id: t.id,
            number: t.number.clone(),
            level: t.level.to_string(),
            title: t.title.clone(),
            customer: occ.customer.name.clone(),
        },
        timer: occ.timer,
        due_at: occ.due_at.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        rule: Some(rule.key.clone()),
        step: Some(occ.step),
        acknowledged_by: None,
        language: None,
    }
}

/// Mails queued for `address` in the last minute (folded ones do not count: they went into a
/// digest).
async fn recent_mails(db: &impl ConnectionTrait, address: &str, now: DateTime<Utc>) -> Result<u64> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Channel.eq(Channel::Email))
        .filter(outbox::Column::Target.eq(address))
        .filter(outbox::Column::Kind.eq(MessageKind::Notification))
        .filter(outbox::Column::Status.ne(DeliveryStatus::Folded))
        .filter(outbox::Column::CreatedAt.gt(now - Duration::seconds(60)))
        .count(db)
        .await?)
}

/// The digest gathering this minute's folded mail to `address`, sent when the minute ends.
async fn digest_for(db: &impl ConnectionTrait, address: &str, sample: &Payload, now: DateTime<Utc>) -> Result<i64> {
    let bucket = now.timestamp().div_euclid(60);
    let digest_key = format!("digest:{address}:{bucket}");
    let payload = Payload { kind: crate::notify::render::Notice::Digest, id: new_message_id("dig"), ..sample.clone() };
    let row = outbox::Model {
        id: 0,
        outbox_key: digest_key.clone(),
        event_id: None,
        escalation_id: None,
        ticket_id: None,
        channel: Channel::Email,
        target: address.to_string(),
        kind: MessageKind::Digest,
        payload: serde_json::to_string(&payload).map_err(super::super::Error::internal)?,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: super::super::timers::utc((bucket + 1) * 60),
        locked_until: None,
        locked_by: None,
        last_error: None,
        dead_reason: None,
        digest_id: None,
        created_at: now,
        updated_at: now,
        delivered_at: None,
    };
    bulk::insert_outbox(db, &[row]).await?;
    outbox::Entity::find()
        .filter(outbox::Column::OutboxKey.eq(digest_key))
        .one(db)
        .await?
        .map(|d| d.id)
        .ok_or_else(|| super::super::Error::Internal("digest vanished".into()))
}

/// Fires every rule that hears of `on` for the ticket as it now is, in the change's transaction
/// (the change path's last step before it commits). When Opsline resumes a ticket by itself, its
/// assignee is told too, whatever the configured rules say.
pub(crate) async fn announce(work: &mut Work<'_>, on: On, t: &ticket::Model) -> Result<()> {
    let state = work.state;
    let assignee_rule = (on == On::Resumed).then(Rule::assignee_on_resume);
    let configured = state.config.runtime.escalation.rules.iter().filter(|r| r.on == on);
    let rules: Vec<&Rule> = configured.chain(assignee_rule.as_ref()).collect();
    if rules.is_empty() {
        return Ok(());
    }
    let cust = customer::Entity::find_by_id(t.customer_id).one(&work.txn).await?.ok_or_else(|| {
        super::super::Error::Internal(format!("customer {} of {} does not exist", t.customer_id, t.number))
    })?;
    let subject = Subject { timer: None, level: t.level, tier: cust.tier, customer_key: &cust.key };
    let occ = Occurrence {
        on,
        ticket: t,
        customer: &cust,
        timer: None,
        cycle: t.version,
        step: 0,
        due_at: None,
        fire_at: work.now,
    };
    let firings: Vec<(&Rule, &Occurrence)> =
        rules.into_iter().filter(|r| r.matches(on, &subject)).map(|r| (r, &occ)).collect();
    fire_all(&work.txn, state, &firings, work.now, None, &mut work.tally).await?;
    Ok(())
}
