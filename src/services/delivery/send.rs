//! Sending one outbox row: a portal link mail, a digest of the minute's mails to one address, an
//! escalation's or ticket event's mail, or a webhook — composed from the row and handed to the
//! notifier, whose answer is the attempt to record.

use super::*;

/// A portal link mail: the token is signed now, from the row's link id and expiry.
async fn send_link(state: &AppState, notifier: &Notifier, row: &outbox::Model) -> Attempt {
    let Ok(link) = serde_json::from_str::<contact_links::LinkMail>(&row.payload) else {
        return Attempt::failed(Failure::Permanent, None, "unreadable payload".into());
    };
    let Some(mailer) = &notifier.mailer else {
        return Attempt::failed(Failure::Permanent, None, "e-mail is not configured (email.smtp_url)".into());
    };
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let token = state.signer.sign(SignedFor::PortalLink, &contact_links::token_value(link.link_id, link.expires_at));
    let url = format!("{base}/portal/link/{token}");
    let minutes = contact_links::LINK_MINUTES;
    let (subject, text, html) = match (link.purpose, &link.ticket_number) {
        (contact_links::Purpose::SignVisit, Some(number)) => {
            render::visit_sign_link(&link.name, number, &link.language, &url, minutes)
        }
        (purpose, _) => {
            render::portal_link(&link.name, purpose == contact_links::Purpose::Password, &link.language, &url, minutes)
        }
    };
    let mail = Mail {
        to: row.target.clone(),
        subject,
        text,
        html,
        message_id: format!("portal-link-{}.{}@{}", link.link_id, state.installation, id_domain(state)),
        thread: None,
        attachments: Vec::new(),
    };
    mailer.send(&mail).await
}

/// A service report: the report as the HTML part, a summary as the text part, and for the
/// customer's contact a link to acknowledge or dispute it.
async fn send_report(state: &AppState, notifier: &Notifier, row: &outbox::Model) -> Attempt {
    let Ok(m) = serde_json::from_str::<reports::ReportMail>(&row.payload) else {
        return Attempt::failed(Failure::Permanent, None, "unreadable payload".into());
    };
    let Some(mailer) = &notifier.mailer else {
        return Attempt::failed(Failure::Permanent, None, "e-mail is not configured (email.smtp_url)".into());
    };
    let v = match reports::get(state, m.report_id).await {
        Ok(v) => v,
        Err(crate::services::Error::NotFound { .. }) => {
            return Attempt::failed(Failure::Permanent, None, format!("report {} is gone", m.report_id));
        }
        Err(e) => return Attempt::failed(Failure::Retry { retry_after: None }, None, crate::services::chain(&e)),
    };
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let days = state.config.settings.reports.ack_link_days;
    let link = m.contact_id.map(|c| {
        let token = crate::web::report::answer_token(state, v.id, c, v.created_at.timestamp(), days);
        format!("{base}/reports/answer/{token}")
    });
    let answer = link.as_ref().map(|l| crate::web::report::Answer { link: Some(l.clone()), ..Default::default() });
    let html = match crate::web::report::html(&v.content, &v.sha256, base, answer.as_ref()) {
        Ok(h) => h,
        Err(e) => return Attempt::failed(Failure::Permanent, None, format!("report not rendered: {e}")),
    };
    let (subject, text) = render::report_mail(&v.content, &v.sha256, link.as_deref());
    let attachments = match state.pdf.render(&v.content, &v.sha256) {
        None => Vec::new(),
        Some(Ok(pdf)) => vec![(crate::web::report::file_name(&v, "pdf"), "application/pdf".to_string(), pdf)],
        Some(Err(e)) => return Attempt::failed(Failure::Permanent, None, format!("report PDF not rendered: {e}")),
    };
    let mail = Mail {
        to: row.target.clone(),
        subject,
        text,
        html,
        message_id: format!("report-{}.{}@{}", row.id, state.installation, id_domain(state)),
        thread: None,
        attachments,
    };
    mailer.send(&mail).await
}

pub(super) async fn send(state: &AppState, notifier: &Notifier, row: &outbox::Model, now: DateTime<Utc>) -> Attempt {
    match row.kind {
        MessageKind::PortalLink => return send_link(state, notifier, row).await,
        MessageKind::Report => return send_report(state, notifier, row).await,
        _ => {}
    }
    let Ok(payload) = serde_json::from_str::<Payload>(&row.payload) else {
        return Attempt::failed(Failure::Permanent, None, "unreadable payload".into());
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
            let Some(mailer) = &notifier.mailer else {
                return Attempt::failed(Failure::Permanent, None, "e-mail is not configured (email.smtp_url)".into());
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
    let (subject, text, html) = render::digest(&items, payload.language.as_deref());
    Ok(Mail {
        to: row.target.clone(),
        subject,
        text,
        html,
        message_id: format!("{}@{}", payload.id, id_domain(state)),
        thread: None,
        attachments: Vec::new(),
    })
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
        Some(id) if payload.kind.starts_with("sla.") => {
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
    let (subject, text, html) = render::mail(payload, &ticket_url, ack.as_deref());
    let domain = id_domain(state);
    Ok(Mail {
        to: row.target.clone(),
        subject,
        text,
        html,
        message_id: format!("{}@{domain}", payload.id),
        thread: Some(thread_id(payload.ticket.id, &state.installation, &domain)),
        attachments: Vec::new(),
    })
}
