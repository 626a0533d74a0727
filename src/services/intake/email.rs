//! Inbound e-mail, as an MTA pipe delivers it (a raw RFC 5322 message). A reply whose
//! `In-Reply-To`/`References` name a ticket's thread (`<ticket-N.INSTALLATION@domain>`, which every mail
//! Opsline sends about ticket N carries) becomes a public comment by the sending contact — and
//! resumes a ticket waiting for the customer; any other mail from a known contact opens a ticket
//! with source `email`. Unknown senders are refused and logged, and so — with
//! `integrations.email.require_auth_results` — is mail whose `From` the receiving MTA did not
//! authenticate (`mail_auth`). Attachments become ticket
//! attachments. A message delivered twice (same `Message-ID`) is taken once.

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::Intake;
use super::mail_auth::{self, Verdict};
use crate::domain::actor::Actor;
use crate::domain::ticket::{MAX_TEXT, MAX_TITLE, NewFile, Source, Visibility, cleaned, one_line};
use crate::persistence::entities::{contact, idempotency_key, ticket};
use crate::persistence::is_unique_violation;
use crate::services::error::{Error, Result};
use crate::services::tickets::{self, NewComment, NewTicket};
use crate::state::AppState;

crate::text_enum! {
    /// What a message did.
    pub enum MailResult ("e-mail intake result") {
        /// It opened a ticket.
        Opened = "opened",
        /// It commented on the ticket of its thread.
        Commented = "commented",
        /// The same message again: nothing.
        Unchanged = "unchanged",
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Received {
    /// `opened`, `commented` or `unchanged` (the same message again).
    #[schema(value_type = String)]
    pub result: MailResult,
    pub ticket_id: i64,
    /// Attachments stored from this message.
    pub attachments: usize,
}

/// The ticket a message answers, from the thread ids this installation puts on its mails.
fn thread_ticket(ids: &[&str], installation: &str) -> Option<i64> {
    ids.iter().find_map(|id| crate::domain::delivery::thread_ticket(id, installation))
}

fn header_ids<'a>(v: &'a HeaderValue<'a>) -> Vec<&'a str> {
    match v {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
        _ => vec![],
    }
}

fn sender(from: Option<&Address>) -> Option<String> {
    from?.first()?.address().map(|a| a.trim().to_lowercase())
}

/// The new text of a reply: quoted lines and everything after a quote header go.
fn without_quote(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let quote_header = (t.starts_with("On ") && t.ends_with("wrote:"))
            || t.starts_with("-----Original Message-----")
            || (t.starts_with("在") && t.ends_with("写道："));
        if quote_header {
            break;
        }
        if !t.starts_with('>') {
            out.push(line);
        }
    }
    out.join("\n").trim().to_string()
}

pub async fn process(state: &AppState, intake: &Intake, raw: &[u8], now: DateTime<Utc>) -> Result<Received> {
    let msg = MessageParser::default()
        .parse(raw)
        .filter(|m| m.from().is_some())
        .ok_or_else(|| Error::invalid("message", "not an RFC 5322 message with a From header"))?;
    let c = sender_contact(state, intake, &msg).await?;
    let principal = Actor::Contact { contact_id: c.id, customer_id: c.customer_id, name: c.name.clone() };
    let message_id = msg.message_id().map(str::to_string).unwrap_or_else(|| hex::encode(Sha256::digest(raw)));
    let key = format!("mail:{}", &hex::encode(Sha256::digest(message_id.as_bytes()))[..40]);
    let text = msg.body_text(0).map(|t| t.to_string()).unwrap_or_default();
    let mut ids = header_ids(msg.in_reply_to());
    ids.extend(header_ids(msg.references()));
    let thread = match thread_ticket(&ids, &state.installation) {
        Some(id) => ticket::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .filter(|t| t.customer_id == c.customer_id && !t.status.is_final()),
        None => None,
    };
    let (result, ticket_id) = match thread {
        Some(t) => {
            if seen(state, &principal, &key).await? {
                return Ok(Received { result: MailResult::Unchanged, ticket_id: t.id, attachments: 0 });
            }
            let body = without_quote(&text);
            let body = if body.is_empty() { "(an e-mail reply without text)".to_string() } else { body };
            let body = cleaned(&body, MAX_TEXT);
            let comment = NewComment { body, visibility: Visibility::Public, copy_to_children: false };
            tickets::add_comment(state, &principal, &t.id.to_string(), comment, None, now).await?;
            (MailResult::Commented, t.id)
        }
        None => {
            let subject = Some(one_line(msg.subject().unwrap_or_default(), MAX_TITLE))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "(no subject)".into());
            let input = NewTicket {
                customer_id: None,
                title: subject,
                description: cleaned(&text, MAX_TEXT),
                level: None,
                contact_id: None,
                source: Some(Source::Email),
                reported_at: None,
            };
            let opened = tickets::open(state, &principal, input, Some(&key), now).await?;
            if opened.replayed {
                return Ok(Received { result: MailResult::Unchanged, ticket_id: opened.ticket.id, attachments: 0 });
            }
            (MailResult::Opened, opened.ticket.id)
        }
    };
    let attachments = attach(state, &principal, ticket_id, &msg, now).await?;
    if result == MailResult::Commented {
        remember(state, &principal, &key, ticket_id, now).await?;
    }
    tracing::info!(ticket = ticket_id, result = result.as_str(), attachments, "email intake");
    Ok(Received { result, ticket_id, attachments })
}

/// The active contact of the intake's customer who sent the message, after its
/// `Authentication-Results` when they are required.
async fn sender_contact(state: &AppState, intake: &Intake, msg: &Message<'_>) -> Result<contact::Model> {
    let from = sender(msg.from()).ok_or_else(|| Error::invalid("From", "the message names no sender address"))?;
    let auth = &state.config.settings.integrations.email;
    if auth.require_auth_results {
        let results: Vec<&str> = msg
            .headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Authentication-Results"))
            .map(|(_, v)| v)
            .collect();
        let domain = from.rsplit('@').next().unwrap_or_default();
        if let Verdict::Fail(why) = mail_auth::judge(&results, domain, &auth.authserv_id) {
            tracing::warn!(customer = intake.customer.id, domain, reason = %why, "email intake: a message that did not authenticate was refused");
            return Err(Error::invalid("Authentication-Results", why));
        }
    }
    let Some(c) = contact::Entity::find()
        .filter(contact::Column::CustomerId.eq(intake.customer.id))
        .filter(contact::Column::EmailLower.eq(from.clone()))
        .filter(contact::Column::Active.eq(true))
        .one(&state.db)
        .await?
    else {
        tracing::warn!(customer = intake.customer.id, "email intake: a message from an unknown sender was refused");
        return Err(Error::invalid("From", "the sender is not a contact of this customer"));
    };
    Ok(c)
}

/// Stores the message's attachments on the ticket; how many.
async fn attach(
    state: &AppState,
    principal: &Actor,
    ticket_id: i64,
    msg: &Message<'_>,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut attachments = 0;
    for part in msg.attachments() {
        let data = part.contents().to_vec();
        if data.is_empty() {
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")))
            .unwrap_or_else(|| "application/octet-stream".into());
        let filename = part.attachment_name().unwrap_or("attachment").to_string();
        let input = NewFile { filename, content_type, visibility: Visibility::Public, data };
        tickets::add_attachment(state, principal, &ticket_id.to_string(), input, now).await?;
        attachments += 1;
    }
    Ok(attachments)
}

async fn seen(state: &AppState, principal: &Actor, key: &str) -> Result<bool> {
    Ok(idempotency_key::Entity::find()
        .filter(idempotency_key::Column::Principal.eq(principal.key()))
        .filter(idempotency_key::Column::Key.eq(key))
        .one(&state.db)
        .await?
        .is_some())
}

/// Recorded after the comment, so that a crash in between delivers the reply twice rather than
/// never.
async fn remember(state: &AppState, principal: &Actor, key: &str, ticket_id: i64, now: DateTime<Utc>) -> Result<()> {
    let inserted = idempotency_key::ActiveModel {
        principal: Set(principal.key()),
        key: Set(key.to_string()),
        request_hash: Set("email".into()),
        ticket_id: Set(ticket_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await;
    match inserted {
        Err(e) if !is_unique_violation(&e) => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_name_their_ticket_and_lose_their_quotes() {
        assert_eq!(thread_ticket(&["<5f2c@opsline>", "<ticket-42.ab12@ops.example>"], "ab12"), Some(42));
        assert_eq!(thread_ticket(&["<ticket-42.cd34@ops.example>", "<other@example.com>"], "ab12"), None);
        let reply = "Logs attached.\n\nOn Tue, 20 Oct 2026 Opsline wrote:\n> Your ticket INC-000042\n> was opened";
        assert_eq!(without_quote(reply), "Logs attached.");
        assert_eq!(without_quote("> only a quote"), "");
        assert_eq!(without_quote("已附上日志。\n在 2026年10月20日 Opsline 写道：\n> 工单"), "已附上日志。");
    }
}
