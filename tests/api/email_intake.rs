//! Inbound e-mail: Opsline mails a contact about their ticket (lettre to a real SMTP capture);
//! the contact's reply, built and sent with lettre to the capture too, is replayed into the
//! email intake as an MTA pipe would — and threads onto the right ticket, attachment included.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::Method;
use serde_json::{Value, json};

use crate::escalation::{Rig, deliver, rig_with};
use crate::helpers::TestApp;
use crate::receivers::{ReceivedMail, SmtpServer};

const STATUS_MAILS: &str = r#"
[[escalation.rules]]
name = "status-mail"
on = "opened"
notify = ["contact:customer"]
"#;

async fn send_raw(app: &TestApp, key: &str, raw: &str) -> (u16, Value) {
    let url = format!("{}/api/v1/integrations/email", app.address);
    let r = app.client.post(url).bearer_auth(key).header("content-type", "message/rfc822").body(raw.to_string());
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Sends `msg` through the capture and returns the message as it arrived there, raw.
async fn through_smtp(smtp: &SmtpServer, msg: Message) -> String {
    let before = smtp.mails().len();
    let port: u16 = smtp.url().rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(port).build();
    transport.send(msg).await.unwrap();
    let mails = smtp.mails();
    assert_eq!(mails.len(), before + 1);
    mails.last().unwrap().raw.clone()
}

/// ACME's contact Ann, an e-mail integration key, and Ann's ticket waiting for her logs.
struct Waiting {
    cust: i64,
    contact: Value,
    key: String,
    id: i64,
}

#[tokio::test]
async fn a_contacts_reply_threads_onto_its_ticket_and_other_mail_opens_one() {
    let r = rig_with(STATUS_MAILS, None, None).await;
    let w = a_ticket_waiting_for_anns_logs(&r.app).await;
    let status = the_status_mail_names_the_ticket_in_its_references(&r, w.id).await;
    anns_reply_comments_on_the_ticket_once_with_its_attachment(&r, &w, &status).await;
    a_new_message_from_ann_opens_an_email_ticket(&r, &w).await;
    let raw = strangers_and_non_messages_are_refused_and_nothing_is_written(&r, &w).await;
    a_leads_token_may_stand_in_for_the_key_and_an_agents_may_not(&r.app, w.cust, &raw).await;
}

async fn a_ticket_waiting_for_anns_logs(app: &TestApp) -> Waiting {
    let cust = app.customer("ACME", "vip").await;
    let contact = app
        .post(
            &format!("/api/v1/customers/{cust}/contacts"),
            &app.admin,
            json!({"name": "Ann", "email": "Ann@Acme.example", "language": "en"}),
        )
        .await
        .body;
    let key = app
        .post(&format!("/api/v1/customers/{cust}/integrations"), &app.admin, json!({"kind": "email"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let t = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": cust, "contact_id": contact["id"], "title": "printer error"}),
        )
        .await
        .body;
    let id = t["id"].as_i64().unwrap();
    app.act(id, "respond", &app.admin, json!({"message": "please send the logs"})).await;
    app.act(id, "wait-customer", &app.admin, json!({"reason": "waiting for the logs"})).await;
    Waiting { cust, contact, key, id }
}

/// The mail about the ticket, with its Message-ID and References.
struct StatusMail {
    mail: ReceivedMail,
    their_id: String,
    refs: String,
}

async fn the_status_mail_names_the_ticket_in_its_references(r: &Rig, id: i64) -> StatusMail {
    deliver(&r.app).await;
    let status = r.smtp.mails().into_iter().next().expect("the status mail");
    let (their_id, refs) = (status.header("Message-ID").unwrap(), status.header("References").unwrap());
    assert!(refs.contains(&format!("ticket-{id}.{}@", r.app.state.installation)), "{refs}");
    StatusMail { mail: status, their_id, refs }
}

/// Ann replies from her mail client: quoted text, an attachment.
async fn anns_reply_comments_on_the_ticket_once_with_its_attachment(r: &Rig, w: &Waiting, status: &StatusMail) {
    let (app, key, id) = (&r.app, &w.key, w.id);
    let StatusMail { mail: status, their_id, refs } = status;
    let reply = Message::builder()
        .from("Ann <ann@acme.example>".parse::<Mailbox>().unwrap())
        .to("support@opsline.example".parse::<Mailbox>().unwrap())
        .subject(format!("Re: {}", status.header("Subject").unwrap()))
        .in_reply_to(their_id.clone())
        .references(format!("{refs} {their_id}"))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(
                    "Here are the logs.\n\nOn Tue, 20 Oct 2026, Opsline wrote:\n> please send the logs".to_string(),
                ))
                .singlepart(
                    Attachment::new("printer.log".into()).body(b"E42 paper jam".to_vec(), ContentType::TEXT_PLAIN),
                ),
        )
        .unwrap();
    let raw = through_smtp(&r.smtp, reply).await;
    let (status, body) = send_raw(app, key, &raw).await;
    assert_eq!(
        (status, body["result"].as_str(), body["ticket_id"].as_i64()),
        (200, Some("commented"), Some(id)),
        "{body}"
    );
    assert_eq!(body["attachments"], 1);
    let comments = app.get(&format!("/api/v1/tickets/{id}/comments"), &app.admin).await.body;
    let last = comments.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["body"].as_str(), last["visibility"].as_str()),
        (Some("Here are the logs."), Some("public")),
        "{last}"
    );
    assert_eq!(last["author_kind"], "contact", "{last}");
    let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!(t["status"], "in_progress", "a reply resumes a ticket waiting for the customer");
    let files = app.get(&format!("/api/v1/tickets/{id}/attachments"), &app.admin).await.body;
    assert_eq!(files.as_array().unwrap()[0]["filename"], "printer.log", "{files}");
    // The MTA delivers it again: taken once.
    assert_eq!(send_raw(app, key, &raw).await.1["result"], "unchanged");
    let again = app.get(&format!("/api/v1/tickets/{id}/comments"), &app.admin).await.body;
    assert_eq!(again.as_array().unwrap().len(), comments.as_array().unwrap().len());
}

/// A new message from Ann opens a ticket with source `email`.
async fn a_new_message_from_ann_opens_an_email_ticket(r: &Rig, w: &Waiting) {
    let (app, key) = (&r.app, &w.key);
    let fresh = Message::builder()
        .from("ann@acme.example".parse::<Mailbox>().unwrap())
        .to("support@opsline.example".parse::<Mailbox>().unwrap())
        .subject("系统崩溃，业务中断")
        .body("The billing system is down since 09:00.".to_string())
        .unwrap();
    let raw = through_smtp(&r.smtp, fresh).await;
    let (status, body) = send_raw(app, key, &raw).await;
    assert_eq!((status, body["result"].as_str()), (201, Some("opened")), "{body}");
    let new_id = body["ticket_id"].as_i64().unwrap();
    let t = app.get(&format!("/api/v1/tickets/{new_id}"), &app.admin).await.body;
    assert_eq!(
        (t["source"].as_str(), t["title"].as_str(), t["level"].as_str()),
        (Some("email"), Some("系统崩溃，业务中断"), Some("I"))
    );
    assert_eq!(t["contact"]["id"], w.contact["id"], "{t}");
    assert_eq!(send_raw(app, key, &raw).await.1["result"], "unchanged");
}

/// Strangers and non-messages are refused, and nothing is written. Returns the stranger's mail.
async fn strangers_and_non_messages_are_refused_and_nothing_is_written(r: &Rig, w: &Waiting) -> String {
    let (app, key, cust) = (&r.app, &w.key, w.cust);
    let before = app.counts().await;
    let stranger = Message::builder()
        .from("mallory@evil.example".parse::<Mailbox>().unwrap())
        .to("support@opsline.example".parse::<Mailbox>().unwrap())
        .subject("hello")
        .body("open a ticket".to_string())
        .unwrap();
    let raw = through_smtp(&r.smtp, stranger).await;
    let (status, body) = send_raw(app, key, &raw).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("From")), "{body}");
    assert_eq!(send_raw(app, key, "no headers at all").await.0, 422);
    let wrong_kind =
        app.post(&format!("/api/v1/customers/{cust}/integrations"), &app.admin, json!({"kind": "events"})).await;
    let events_key = wrong_kind.body["key"].as_str().unwrap().to_string();
    assert_eq!(send_raw(app, &events_key, &raw).await.0, 401);
    let r = app.call(Method::POST, "/api/v1/integrations/email", None, None).await;
    assert_eq!(r.status, 401);
    let mut after = app.counts().await;
    // The events integration just created is the one audit row expected.
    after[9] -= 1;
    assert_eq!(after, before, "refused mail wrote nothing");
    raw
}

/// Instead of the key: a lead's token naming the customer; an agent's is not enough.
async fn a_leads_token_may_stand_in_for_the_key_and_an_agents_may_not(app: &TestApp, cust: i64, raw: &str) {
    let (lead, agent) = (app.staff("lead").await, app.staff("agent").await);
    let path = format!("/api/v1/integrations/email?customer_id={cust}");
    let url = format!("{}{path}", app.address);
    let post = |token: String| app.client.post(url.clone()).bearer_auth(token).body(raw.to_string()).send();
    assert_eq!(post(agent).await.unwrap().status(), 403);
    assert_eq!(post(lead).await.unwrap().status(), 422, "the lead gets as far as the unknown sender");
}
