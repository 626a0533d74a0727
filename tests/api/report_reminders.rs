//! A scheduled report neither acknowledged nor disputed within `reports.ack_within` (3 working
//! days on the customer's calendar) fires the `report_unacknowledged` rules, once, by mail and
//! signed webhook; an answered report never does.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, at, spawn_with};
use crate::receivers::{SmtpServer, WebhookReceiver};

/// The mails about an unanswered report: (recipients, text).
fn reminders(smtp: &SmtpServer) -> Vec<(Vec<String>, String)> {
    smtp.mails()
        .into_iter()
        .map(|m| (m.to.clone(), m.text()))
        .filter(|(_, t)| t.contains("reports.ack_within"))
        .collect()
}

async fn report_of(app: &TestApp, customer: i64) -> Value {
    let r = app.get(&format!("/api/v1/customers/{customer}/reports"), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body[0].clone()
}

#[tokio::test]
async fn an_unanswered_report_fires_its_rules_once_after_three_working_days() {
    use opsline::services::reports::{run_scheduled, run_unacknowledged};
    let smtp = SmtpServer::start().await;
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let hook = WebhookReceiver::start(SECRET).await;
    let overlay = format!(
        "[webhooks.endpoints.desk]\nurl = \"{}\"\nsecret = \"{SECRET}\"\n\
         [[escalation.rules]]\nname = \"unanswered-report\"\non = \"report_unacknowledged\"\n\
         notify = [\"role:assignee\", \"email:desk@opsline.example\", \"webhook:desk\"]\n",
        hook.url()
    );
    let app = spawn_with(Options {
        env: vec![("OPSLINE_EMAIL__SMTP_URL".into(), smtp.url())],
        overlay: Some(overlay),
        now: Some(at("2026-11-16T09:00:00+08:00")),
        ..Default::default()
    })
    .await;
    let acme = app.customer("ACME", "standard").await;
    let lead = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "acme-lead", "role": "lead", "email": "lead@opsline.example"}),
        )
        .await;
    assert_eq!(lead.status, 201, "{}", lead.body);
    let r = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/customers/{acme}"),
            Some(&app.admin),
            Some(json!({"account_lead_id": lead.body["id"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answered = app.customer("Answered", "standard").await;
    let (_, answered_token) = app.contact(answered, "it@answered.example").await;

    // Monday 09:30: last week's reports are made; one is acknowledged at once.
    app.clock.set(at("2026-11-23T09:30:00+08:00"));
    assert_eq!(run_scheduled(&app.state, app.clock.now()).await.unwrap(), 2);
    let done = report_of(&app, answered).await;
    let ack = app
        .post(
            &format!("/api/v1/reports/{}/ack", done["id"]),
            &answered_token,
            json!({"decision": "acknowledged", "sha256": done["sha256"]}),
        )
        .await;
    assert_eq!(ack.status, 200, "{}", ack.body);

    // Three working days on the business calendar: Thursday 09:30. Not a second before.
    app.clock.set(at("2026-11-26T09:30:00+08:00"));
    assert_eq!(run_unacknowledged(&app.state, app.clock.now()).await.unwrap(), 0);
    app.clock.set(at("2026-11-26T09:31:00+08:00"));
    assert_eq!(run_unacknowledged(&app.state, app.clock.now()).await.unwrap(), 1, "ACME's report only");
    assert_eq!(run_unacknowledged(&app.state, app.clock.now()).await.unwrap(), 0, "once");
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let sent = reminders(&smtp);
    assert_eq!(sent.len(), 2, "the account lead and the desk: {sent:?}");
    assert!(sent.iter().all(|(_, text)| text.contains("ACME") && text.contains("2026-11-16")), "{sent:?}");
    let to: Vec<String> = sent.into_iter().flat_map(|(to, _)| to).collect();
    assert!(
        to.iter().any(|t| t.contains("lead@opsline.example")) && to.iter().any(|t| t.contains("desk@opsline.example")),
        "{to:?}"
    );
    let hooks = hook.received();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let body = &hooks[0].json;
    assert_eq!(
        (body["type"].as_str(), body["report"]["customer"].as_str()),
        (Some("report.unacknowledged"), Some("ACME"))
    );
    assert!(hooks[0].verified, "signed like every webhook");
    assert!(report_of(&app, acme).await["decision"].is_null());
}
