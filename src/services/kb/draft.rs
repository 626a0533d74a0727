//! A draft article from a resolved ticket in one click (案例总结): the caller's description is the
//! symptom, the fault-handling plan the cause (its `原因：`/`Cause:` part, where it says so; the
//! rest goes into the body), the resolution the resolution — with the names, e-mail addresses and
//! phone numbers of the ticket's customer and its contacts, and anything else shaped like an
//! address or a number, replaced by placeholders before anyone edits. The ticket is its source.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::{ArticleView, NewArticle};
use crate::domain::kb::ArticleVisibility;
use crate::domain::redact::{Kind, Known};
use crate::domain::ticket::Status;
use crate::persistence::entities::{comment, contact, customer, ticket};
use crate::services::tickets::{TicketRef, load_visible};
use crate::state::AppState;

/// What Opsline knows of the people and the customer of a ticket.
async fn known(state: &AppState, t: &ticket::Model) -> Result<Known> {
    let mut k = Known::default();
    if let Some(c) = customer::Entity::find_by_id(t.customer_id).one(&state.db).await? {
        k.add(&c.name, Kind::Customer);
        k.add(&c.key, Kind::Customer);
    }
    for c in contact::Entity::find().filter(contact::Column::CustomerId.eq(t.customer_id)).all(&state.db).await? {
        k.add(&c.name, Kind::Contact);
        k.add(&c.email, Kind::Email);
        if let Some(p) = &c.phone {
            k.add(p, Kind::Phone);
        }
        if let Some(p) = &c.phone_digits {
            k.add(p, Kind::Phone);
        }
    }
    // Whoever wrote on the ticket as the customer, under whatever name they gave.
    let authors: Vec<String> = comment::Entity::find()
        .filter(comment::Column::TicketId.eq(t.id))
        .filter(comment::Column::AuthorContactId.is_not_null())
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| c.author_name)
        .collect();
    for a in authors {
        k.add(&a, Kind::Contact);
    }
    Ok(k)
}

/// The plan split into its cause (a paragraph or line starting `原因` or `Cause`) and the rest.
fn cause_and_rest(plan: &str) -> (String, String) {
    let mut cause = Vec::new();
    let mut rest = Vec::new();
    let mut in_cause = false;
    for line in plan.lines() {
        let trimmed = line.trim_start();
        let lower = trimmed.to_lowercase();
        let marker =
            ["原因：", "原因:", "原因", "cause:", "root cause:", "cause"].into_iter().find(|m| lower.starts_with(m));
        if let Some(m) = marker {
            in_cause = true;
            let text = trimmed[m.len()..].trim_start_matches([':', '：', ' ']).trim();
            if !text.is_empty() {
                cause.push(text.to_string());
            }
            continue;
        }
        if trimmed.is_empty() {
            in_cause = false;
        }
        if in_cause { cause.push(line.trim().to_string()) } else { rest.push(line.to_string()) }
    }
    (cause.join("\n"), rest.join("\n").trim().to_string())
}

fn has_han(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// `POST /api/v1/kb/articles/from-ticket/{ticket}`.
pub async fn from_ticket(state: &AppState, actor: &Principal, r: &str, now: DateTime<Utc>) -> Result<ArticleView> {
    // A ticket the caller cannot see is not found, whoever asks.
    let t = load_visible(&state.db, actor, &TicketRef::from(r)).await?;
    super::require_writer(actor)?;
    if !matches!(t.status, Status::Resolved | Status::Closed) {
        return Err(Error::conflict(
            "not_resolved",
            format!("{} is {}: an article is drafted from a resolved ticket", t.number, t.status),
        ));
    }
    let k = known(state, &t).await?;
    let plan = t.plan.as_deref().unwrap_or("");
    let (cause, rest) = cause_and_rest(plan);
    let body = if rest.is_empty() { String::new() } else { format!("## Plan\n\n{}\n", k.redact(&rest)) };
    let title = t.public_title.as_deref().unwrap_or(&t.title);
    let language = if has_han(&format!("{}{}", t.title, t.description)) { "zh" } else { "en" };
    let input = NewArticle {
        title: k.redact(title),
        symptom: k.redact(&t.description),
        cause: k.redact(&cause),
        resolution: k.redact(t.resolution.as_deref().unwrap_or("")),
        body,
        tags: Vec::new(),
        product: None,
        language: Some(language.into()),
        visibility: Some(ArticleVisibility::Internal),
        source_ticket_ids: vec![t.id],
    };
    super::create(state, actor, input, Some(format!("drafted from {}", t.number)), now).await
}

#[cfg(test)]
mod tests {
    use super::cause_and_rest;

    #[test]
    fn the_plan_gives_its_cause_and_keeps_the_rest() {
        let (cause, rest) = cause_and_rest("原因：undo 表空间不足\n导致 ORA-01555\n\n步骤：扩容 undo 后重跑");
        assert_eq!(cause, "undo 表空间不足\n导致 ORA-01555");
        assert_eq!(rest, "步骤：扩容 undo 后重跑");
        let (cause, rest) = cause_and_rest("Restart the WebLogic node");
        assert_eq!((cause.as_str(), rest.as_str()), ("", "Restart the WebLogic node"));
    }
}
