//! Sending one outbox row: a portal link mail, a digest of the minute's mails to one address, an
//! escalation's or ticket event's mail, or a webhook — composed from the row and handed to the
//! notifier, whose answer is the attempt to record.

use super::*;

/// How a send ends before it reaches the notifier: the attempt to record.
type Early<T> = std::result::Result<T, Attempt>;

/// The row's payload; an unreadable one fails for good.
fn payload_of<T: serde::de::DeserializeOwned>(row: &outbox::Model) -> Early<T> {
    serde_json::from_str(&row.payload)
        .map_err(|_| Attempt::failed(Failure::Permanent, None, "unreadable payload".into()))
}

/// The mailer; without one (no `email.smtp_url`) a mail fails for good.
fn mailer_of(notifier: &Notifier) -> Early<&crate::notify::email::Mailer> {
    notifier
        .mailer
        .as_ref()
        .ok_or_else(|| Attempt::failed(Failure::Permanent, None, "e-mail is not configured (email.smtp_url)".into()))
}

/// The report a row names: one that is gone fails for good; a database error is tried again.
async fn report_of(state: &AppState, id: i64) -> Early<reports::ReportView> {
    match reports::get(state, id).await {
        Ok(v) => Ok(v),
        Err(crate::services::Error::NotFound { .. }) => {
            Err(Attempt::failed(Failure::Permanent, None, format!("report {id} is gone")))
        }
        Err(e) => Err(Attempt::failed(Failure::Retry { retry_after: None }, None, crate::services::chain(&e))),
    }
}

/// A portal link mail: the token is signed now, from the row's link id and expiry.
async fn send_link(state: &AppState, notifier: &Notifier, row: &outbox::Model) -> Early<Attempt> {
    let link: contact_links::LinkMail = payload_of(row)?;
    let mailer = mailer_of(notifier)?;
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let token = state.signer.sign(SignedFor::PortalLink, &contact_links::token_value(link.link_id, link.expires_at));
    let url = format!("{base}/portal/link/{token}");
    let minutes = contact_links::LINK_MINUTES;
    let rendered = match (link.purpose, &link.ticket_number) {
        (contact_links::Purpose::SignVisit, Some(number)) => {
            render::visit_sign_link(&link.name, number, &link.language, &url, minutes)
        }
        (purpose, _) => {
            render::portal_link(&link.name, purpose == contact_links::Purpose::Password, &link.language, &url, minutes)
        }
    };
    let mail = Mail::new(&row.target, rendered, message_id(state, format!("portal-link-{}", link.link_id)));
    Ok(mailer.send(&mail).await)
}

/// A service report: the report as the HTML part, a summary as the text part, and for the
/// customer's contact a link to acknowledge or dispute it.
async fn send_report(state: &AppState, notifier: &Notifier, row: &outbox::Model) -> Early<Attempt> {
    let m: reports::ReportMail = payload_of(row)?;
    let mailer = mailer_of(notifier)?;
    let v = report_of(state, m.report_id).await?;
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let days = state.config.settings.reports.ack_link_days;
    let link = m.contact_id.map(|c| {
        let token = state.signer.report_answer(v.id, c, v.created_at.timestamp(), days);
        format!("{base}/reports/answer/{token}")
    });
    let html = state
        .documents
        .html(&v.content, &v.sha256, base, link.as_deref())
        .map_err(|e| Attempt::failed(Failure::Permanent, None, format!("report not rendered: {e}")))?;
    let (subject, text) = render::report_mail(&v.content, &v.sha256, link.as_deref());
    let mail = Mail::new(&row.target, (subject, text, html), message_id(state, format!("report-{}", row.id)));
    let attachments = match state.documents.pdf(&v.content, &v.sha256) {
        None => Vec::new(),
        Some(Ok(pdf)) => vec![(v.file_name("pdf"), "application/pdf".to_string(), pdf)],
        Some(Err(e)) => return Err(Attempt::failed(Failure::Permanent, None, format!("report PDF not rendered: {e}"))),
    };
    Ok(mailer.send(&mail.with_attachments(attachments)).await)
}

/// A closed ticket's rating request, in the ticket's mail thread: the link is signed now.
async fn send_rating(state: &AppState, notifier: &Notifier, row: &outbox::Model) -> Early<Attempt> {
    let m: crate::services::ratings::RatingMail = payload_of(row)?;
    let mailer = mailer_of(notifier)?;
    let found = async {
        let Some(r) = rating::Entity::find_by_id(m.rating_id).one(&state.db).await? else { return Ok(None) };
        let t = ticket::Entity::find_by_id(r.ticket_id).one(&state.db).await?;
        let c = contact::Entity::find_by_id(r.contact_id).one(&state.db).await?;
        Ok::<_, sea_orm::DbErr>(t.zip(c).map(|(t, c)| (r, t, c)))
    };
    let (r, t, c) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Attempt::failed(Failure::Permanent, None, format!("rating {} is gone", m.rating_id))),
        Err(e) => return Err(database(e)),
    };
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let url = format!("{base}/ratings/{}", state.signer.rating(r.id));
    // When the link stops working, in the time zone of the customer's calendar.
    let calendar = crate::services::customers::find(&state.db, t.customer_id).await.ok().map(|c| c.calendar);
    let zone = state.config.zone_for(calendar.as_deref());
    let until = match (jiff::Timestamp::from_second(r.expires_at.timestamp()), jiff::tz::TimeZone::get(&zone)) {
        (Ok(at), Ok(tz)) => at.to_zoned(tz).strftime("%Y-%m-%d %H:%M (%Z)").to_string(),
        _ => r.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let rendered = render::rating_mail(&c.name, &t.number, &t.title, &c.language, &url, &until);
    let mail = Mail::new(&row.target, rendered, message_id(state, format!("rating-{}", r.id)));
    let mail = mail.in_thread(ticket_thread(state, t.id));
    Ok(mailer.send(&mail).await)
}

/// A service report nobody answered, to a rule's recipient: a mail naming the report, or a
/// signed webhook of type `report.unacknowledged`.
async fn send_unanswered(
    state: &AppState,
    notifier: &Notifier,
    row: &outbox::Model,
    now: DateTime<Utc>,
) -> Early<Attempt> {
    let m: reports::Unanswered = payload_of(row)?;
    let v = report_of(state, m.report_id).await?;
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let p = &v.content.period;
    let link = format!("{base}/api/v1/reports/{}?format=html", v.id);
    match row.channel {
        Channel::Webhook => {
            let Some(endpoint) = state.config.runtime.escalation.endpoints.get(&row.target) else {
                let why = format!("no endpoint named `{}` is configured", row.target);
                return Err(Attempt::failed(Failure::Permanent, None, why));
            };
            let body = serde_json::json!({
                "type": "report.unacknowledged",
                "id": m.id,
                "occurred_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "rule": m.rule,
                "report": {
                    "id": v.id, "customer_id": v.customer_id, "customer": v.content.customer.name,
                    "first_day": p.first_day, "last_day": p.last_day, "sha256": v.sha256,
                    "made_at": v.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "url": link,
                },
            });
            let body = serde_json::to_vec(&body)
                .map_err(|e| Attempt::failed(Failure::Permanent, None, format!("unserialisable payload: {e}")))?;
            Ok(notifier.webhooks.send(endpoint, &m.id, now.timestamp(), &body).await)
        }
        _ => {
            let mailer = mailer_of(notifier)?;
            let rendered =
                render::report_unanswered(&v.content.customer.name, &p.first_day, &p.last_day, &m.language, &link);
            let mail = Mail::new(&row.target, rendered, message_id(state, format!("report-unanswered-{}", row.id)));
            Ok(mailer.send(&mail).await)
        }
    }
}

pub(super) async fn send(state: &AppState, notifier: &Notifier, row: &outbox::Model, now: DateTime<Utc>) -> Attempt {
    match row.kind {
        MessageKind::PortalLink => return send_link(state, notifier, row).await.unwrap_or_else(|a| a),
        MessageKind::Report => return send_report(state, notifier, row).await.unwrap_or_else(|a| a),
        MessageKind::Rating => return send_rating(state, notifier, row).await.unwrap_or_else(|a| a),
        MessageKind::ReportUnacknowledged => {
            return send_unanswered(state, notifier, row, now).await.unwrap_or_else(|a| a);
        }
        _ => {}
    }
    let payload: Payload = match payload_of(row) {
        Ok(p) => p,
        Err(a) => return a,
    };
    match row.channel {
        Channel::Webhook => {
            let Some(endpoint) = state.config.runtime.escalation.endpoints.get(&row.target) else {
                let why = format!("no endpoint named `{}` is configured", row.target);
                return Attempt::failed(Failure::Permanent, None, why);
            };
            let mut body = payload.clone();
            body.language = None;
            match serde_json::to_vec(&body) {
                Ok(body) => notifier.webhooks.send(endpoint, &payload.id, now.timestamp(), &body).await,
                Err(e) => Attempt::failed(Failure::Permanent, None, format!("unserialisable payload: {e}")),
            }
        }
        Channel::Email => {
            let mailer = match mailer_of(notifier) {
                Ok(m) => m,
                Err(a) => return a,
            };
            let mail = if row.kind == MessageKind::Digest {
                digest_mail(state, row, &payload).await
            } else {
                notification_mail(state, row, &payload, now).await
            };
            match mail {
                Ok(mail) => mailer.send(&mail).await,
                Err(failed) => failed,
            }
        }
        other => Attempt::failed(Failure::Permanent, None, format!("unknown channel `{other}`")),
    }
}

/// The domain of the message and thread ids in this installation's mails.
fn id_domain(state: &AppState) -> String {
    state.config.settings.email.id_domain()
}

/// A `Message-ID` of this installation's, `<local>.<installation>@<domain>`, without brackets.
fn message_id(state: &AppState, local: String) -> String {
    format!("{local}.{}@{}", state.installation, id_domain(state))
}

/// The `Message-ID` of the root of ticket `ticket_id`'s mail thread, in this installation.
fn ticket_thread(state: &AppState, ticket_id: i64) -> String {
    thread_id(ticket_id, &state.installation, &id_domain(state))
}

/// A database error while composing a mail: tried again later.
fn database(e: sea_orm::DbErr) -> Attempt {
    Attempt::failed(Failure::Retry { retry_after: None }, None, format!("database: {e}"))
}

/// The minute's folded mails to one address, as one.
async fn digest_mail(state: &AppState, row: &outbox::Model, payload: &Payload) -> std::result::Result<Mail, Attempt> {
    let folded = outbox::Entity::find()
        .filter(outbox::Column::DigestId.eq(row.id))
        .order_by_asc(outbox::Column::Id)
        .all(&state.db)
        .await
        .map_err(database)?;
    let items: Vec<Payload> = folded.iter().filter_map(|f| serde_json::from_str(&f.payload).ok()).collect();
    let rendered = render::digest(&items, payload.language.as_deref());
    Ok(Mail::new(&row.target, rendered, format!("{}@{}", payload.id, id_domain(state))))
}

/// An escalation's or a ticket event's mail: a link to the ticket (the portal's for a customer's
/// contact, the console's for staff) and, for warnings and breaches, a signed acknowledge link.
async fn notification_mail(
    state: &AppState,
    row: &outbox::Model,
    payload: &Payload,
    now: DateTime<Utc>,
) -> std::result::Result<Mail, Attempt> {
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let ack = match payload.escalation_id {
        Some(id) if matches!(payload.kind, render::Notice::Event(on) if on.is_timed()) => {
            let expires = now.timestamp() + state.config.runtime.escalation.ack_link_ttl_secs;
            let token = state.signer.sign_until(SignedFor::Acknowledge, &id.to_string(), expires);
            Some(format!("{base}/ack/{token}"))
        }
        _ => None,
    };
    let contact = contact::Entity::find()
        .filter(contact::Column::EmailLower.eq(row.target.to_lowercase()))
        .one(&state.db)
        .await
        .map_err(database)?;
    let ticket_url = match contact {
        Some(_) => format!("{base}/portal/tickets/{}", payload.ticket.number),
        None => format!("{base}/console/tickets/{}", payload.ticket.id),
    };
    let rendered = render::mail(payload, &ticket_url, ack.as_deref());
    let mail = Mail::new(&row.target, rendered, format!("{}@{}", payload.id, id_domain(state)));
    Ok(mail.in_thread(ticket_thread(state, payload.ticket.id)))
}
