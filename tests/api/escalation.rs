//! Escalation end to end with real peers: warnings and breaches fire once per step, reach a real
//! SMTP server and a signature-checking webhook receiver, survive outages and crashes, fold
//! storms into digests, and stop when acknowledged or met. Time moves by the manual clock; the
//! workers' `run_once` functions are called directly.

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, at, eventually, spawn_with};
use crate::receivers::{SmtpServer, WebhookReceiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn rules(extra: &str) -> String {
    format!(
        r#"
[escalation]
public_url = "http://opsline.test"

[[escalation.rules]]
name = "l1-response-warn"
on = "warning"
timer = "response"
levels = ["I"]
at = "80%"
notify = ["email:oncall@example.com", "webhook:ops"]

[[escalation.rules]]
name = "l1-response-breach"
on = "breach"
timer = "response"
levels = ["I"]
notify = ["email:oncall@example.com", "webhook:ops"]
repeat = "5m"
{extra}
[webhooks.endpoints.ops]
url = "http://127.0.0.1:9/replaced-by-the-environment"
secret = "{SECRET}"
timeout_ms = 2000
"#
    )
}

pub struct Rig {
    pub app: TestApp,
    pub smtp: SmtpServer,
    pub hooks: WebhookReceiver,
}

pub async fn rig_with(extra_rules: &str, smtp: Option<SmtpServer>, db_url: Option<String>) -> Rig {
    rig_from(extra_rules, smtp, db_url, &[]).await
}

/// The rig with more settings in the environment (`OPSLINE_…`).
pub async fn rig_env(extra_env: &[(&str, &str)]) -> Rig {
    rig_from("", None, None, extra_env).await
}

async fn rig_from(
    extra_rules: &str,
    smtp: Option<SmtpServer>,
    db_url: Option<String>,
    extra_env: &[(&str, &str)],
) -> Rig {
    let smtp = match smtp {
        Some(s) => s,
        None => SmtpServer::start().await,
    };
    let hooks = WebhookReceiver::start(SECRET).await;
    let mut env = vec![
        ("OPSLINE_EMAIL__SMTP_URL".to_string(), smtp.url()),
        ("OPSLINE_EMAIL__TIMEOUT_MS".into(), "3000".into()),
        ("OPSLINE_WEBHOOKS__ENDPOINTS__OPS__URL".into(), hooks.url()),
    ];
    env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = spawn_with(Options { overlay: Some(rules(extra_rules)), env, db_url, ..Default::default() }).await;
    Rig { app, smtp, hooks }
}

impl Rig {
    /// A second instance on the same database, with the same rules and receivers, its clock at
    /// `now`.
    pub async fn second(&self, now: &str) -> TestApp {
        self.second_with(now, &[]).await
    }

    /// [`Rig::second`] with more settings in the environment.
    pub async fn second_with(&self, now: &str, extra_env: &[(&str, &str)]) -> TestApp {
        let mut env = vec![
            ("OPSLINE_EMAIL__SMTP_URL".to_string(), self.smtp.url()),
            ("OPSLINE_WEBHOOKS__ENDPOINTS__OPS__URL".into(), self.hooks.url()),
        ];
        env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        spawn_with(Options { overlay: Some(rules("")), env, db_url: Some(self.app.db.url.clone()), now: Some(at(now)) })
            .await
    }
}

pub async fn rig() -> Rig {
    rig_with("", None, None).await
}

pub async fn sweep(app: &TestApp) {
    loop {
        let o = opsline::services::escalation::sweep::run_once(&app.state, app.clock.now()).await.unwrap();
        if o.timers < app.state.config.settings.sweep.batch as usize {
            break;
        }
    }
}

pub async fn deliver(app: &TestApp) {
    loop {
        let o = opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
        if o.claimed == 0 {
            break;
        }
    }
}

pub async fn tick(app: &TestApp, when: &str) {
    app.clock.set(at(when));
    sweep(app).await;
    deliver(app).await;
}

/// A level I ticket's response warning, swept at 10:08 by the first instance (not yet delivered).
pub async fn swept_warning() -> Rig {
    let r = rig().await;
    vip_ticket(&r.app, "I").await;
    r.app.clock.set(at("2026-10-20T10:08:00+08:00"));
    sweep(&r.app).await;
    r
}

pub fn types(hooks: &WebhookReceiver) -> Vec<String> {
    hooks.received().iter().map(|h| h.json["type"].as_str().unwrap_or("").to_string()).collect()
}

pub async fn vip_ticket(app: &TestApp, level: &str) -> Value {
    let c = app.customer(&format!("VIP {}", uuid::Uuid::new_v4().simple()), "vip").await;
    app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "core system down", "level": level}))
        .await
        .body
}

#[tokio::test]
async fn a_level_one_ticket_left_alone_warns_then_breaches_once_each_by_mail_and_webhook() {
    let r = rig().await; // Tue 2026-10-20 10:00 +08:00; VIP: response due 10:10
    let t = vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:07:59+08:00").await;
    assert!(r.hooks.received().is_empty() && r.smtp.mails().is_empty());
    tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    tick(&r.app, "2026-10-20T10:09:00+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.warning"]);
    assert_eq!(r.smtp.mails().len(), 1);
    tick(&r.app, "2026-10-20T10:10:00+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.warning"], "not breached until the second after the deadline");
    tick(&r.app, "2026-10-20T10:10:01+08:00").await;
    tick(&r.app, "2026-10-20T10:11:00+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.warning", "sla.breach"]);
    let mails = r.smtp.mails();
    assert_eq!(mails.len(), 2);
    let breach = &r.hooks.received()[1];
    assert!(breach.verified, "signature verifies with the endpoint's secret");
    assert_eq!(breach.json["ticket"]["number"], t["number"]);
    assert_eq!(breach.json["timer"], "response");
    assert_eq!(breach.json["due_at"], "2026-10-20T02:10:00Z");
    assert!(breach.json["escalation_id"].is_i64());
    let subject = mails[1].header("Subject").unwrap();
    assert!(subject.contains(t["number"].as_str().unwrap()) && subject.contains('I'), "{subject}");
    // Ids under the domain of `email.from`, the thread's with this installation's own id.
    assert!(mails[1].header("Message-ID").unwrap().ends_with("@localhost>"));
    let root = format!("<ticket-{}.{}@localhost>", t["id"], r.app.state.installation);
    assert_eq!(mails[1].header("In-Reply-To").unwrap(), root);
    assert_eq!(mails[0].header("References"), mails[1].header("References"));
    assert_eq!(mails[1].to, vec!["oncall@example.com"]);
    // The timer shows breached and the timeline lists the escalation and its deliveries.
    let shown = r.app.get(&format!("/api/v1/tickets/{}", t["id"]), &r.app.admin).await.body;
    assert_eq!(shown["sla"]["response"]["state"], "breached");
    let log = r.app.get(&format!("/api/v1/notifications?ticket_id={}", t["id"]), &r.app.admin).await.body;
    assert_eq!(log.as_array().unwrap().len(), 4);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "delivered" && n["attempt_log"].as_array().unwrap().len() == 1)
    );
}

#[tokio::test]
async fn repeats_continue_until_acknowledged_and_the_acknowledgement_reaches_the_endpoint() {
    let r = rig().await;
    vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:10:01+08:00").await;
    tick(&r.app, "2026-10-20T10:15:01+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.breach", "sla.breach"]);
    let esc = r.hooks.received()[0].json["escalation_id"].as_i64().unwrap();
    let acked = r.app.post(&format!("/api/v1/escalations/{esc}/ack"), &r.app.admin, json!({})).await;
    assert_eq!(acked.status, 200, "{}", acked.body);
    tick(&r.app, "2026-10-20T10:16:00+08:00").await;
    tick(&r.app, "2026-10-20T10:40:01+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.breach", "sla.breach", "escalation.acknowledged"]);
    assert_eq!(r.smtp.mails().len(), 2);
    // Acknowledging again changes nothing.
    r.app.post(&format!("/api/v1/escalations/{esc}/ack"), &r.app.admin, json!({})).await;
    tick(&r.app, "2026-10-20T10:41:00+08:00").await;
    assert_eq!(r.hooks.received().len(), 3);
}

#[tokio::test]
async fn responding_stops_the_repeats() {
    let r = rig().await;
    let t = vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:10:01+08:00").await;
    r.app.clock.set(at("2026-10-20T10:12:00+08:00"));
    assert_eq!(
        r.app.act(t["id"].as_i64().unwrap(), "respond", &r.app.admin, json!({"message": "on it"})).await.status,
        200
    );
    tick(&r.app, "2026-10-20T10:15:01+08:00").await;
    tick(&r.app, "2026-10-20T11:00:00+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.breach"]);
}

#[tokio::test]
async fn a_breach_after_an_acknowledged_warning_still_fires_once() {
    let r = rig().await;
    vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    let esc = r.hooks.received()[0].json["escalation_id"].as_i64().unwrap();
    r.app.post(&format!("/api/v1/escalations/{esc}/ack"), &r.app.admin, json!({})).await;
    deliver(&r.app).await; // the acknowledgement wakes the delivery loop
    tick(&r.app, "2026-10-20T10:10:01+08:00").await;
    tick(&r.app, "2026-10-20T10:30:01+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.warning", "escalation.acknowledged", "sla.breach"]);
}

#[tokio::test]
async fn the_emailed_acknowledge_link_shows_a_page_and_only_its_post_acknowledges_once() {
    let r = rig().await;
    vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:10:01+08:00").await;
    let text = r.smtp.mails()[0].text();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http://opsline.test/ack/"))
        .unwrap_or_else(|| panic!("an ack link in:\n{text}\n---\n{}", r.smtp.mails()[0].raw))
        .to_string();
    let path = link.trim_start_matches("http://opsline.test");
    let page = r.app.client.get(format!("{}{path}", r.app.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<form method=\"post\">"));
    tick(&r.app, "2026-10-20T10:15:01+08:00").await;
    assert_eq!(types(&r.hooks).len(), 2, "GET did not acknowledge");
    let post = r.app.client.post(format!("{}{path}", r.app.address)).send().await.unwrap();
    assert!(post.text().await.unwrap().contains("Acknowledged"));
    let again = r.app.client.post(format!("{}{path}", r.app.address)).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("Already acknowledged"));
    tick(&r.app, "2026-10-20T10:20:01+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.breach", "sla.breach", "escalation.acknowledged"]);
    r.app.clock.set(at("2026-10-21T10:20:00+08:00"));
    let expired = r.app.client.get(format!("{}{path}", r.app.address)).send().await.unwrap();
    assert!(expired.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn a_storm_of_a_hundred_breaches_to_one_address_yields_at_most_twenty_mails_and_a_digest() {
    let r = rig().await;
    let c = r.app.customer("VIP", "vip").await;
    for i in 0..100 {
        r.app
            .post(
                "/api/v1/tickets",
                &r.app.admin,
                json!({"customer_id": c, "title": format!("outage {i}"), "level": "I"}),
            )
            .await;
    }
    tick(&r.app, "2026-10-20T10:10:01+08:00").await;
    assert_eq!(r.smtp.mails().len(), 20);
    assert_eq!(r.hooks.received().len(), 100, "webhooks are not folded");
    tick(&r.app, "2026-10-20T10:11:00+08:00").await;
    let mails = r.smtp.mails();
    assert_eq!(mails.len(), 21);
    let digest = &mails[20];
    assert!(digest.header("Subject").unwrap().contains("80"), "{:?}", digest.header("Subject"));
    assert_eq!(digest.text().matches("INC-").count(), 80);
}

#[tokio::test]
async fn mail_sent_while_smtp_is_down_arrives_after_recovery_with_every_attempt_recorded() {
    // A port nothing listens on: connections are refused, as from a stopped mail server.
    let reserved = crate::receivers::ReservedPort::new();
    let port = reserved.port;
    let hooks = WebhookReceiver::start(SECRET).await;
    let app = spawn_with(Options {
        overlay: Some(rules("")),
        env: vec![
            ("OPSLINE_EMAIL__SMTP_URL".into(), format!("smtp://127.0.0.1:{port}")),
            ("OPSLINE_EMAIL__TIMEOUT_MS".into(), "2000".into()),
            ("OPSLINE_WEBHOOKS__ENDPOINTS__OPS__URL".into(), hooks.url()),
        ],
        ..Default::default()
    })
    .await;
    vip_ticket(&app, "I").await;
    tick(&app, "2026-10-20T10:10:01+08:00").await;
    tick(&app, "2026-10-20T10:10:30+08:00").await;
    let smtp = SmtpServer::start_on(reserved);
    // Before the next repeat (10:15:01), the retry after two failures gets through.
    tick(&app, "2026-10-20T10:12:00+08:00").await;
    assert_eq!(smtp.mails().len(), 1);
    let log = app.get("/api/v1/notifications?status=delivered", &app.admin).await.body;
    let mail = log.as_array().unwrap().iter().find(|n| n["channel"] == "email").unwrap().clone();
    let attempts = mail["attempt_log"].as_array().unwrap();
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert!(attempts[..attempts.len() - 1].iter().all(|a| a["outcome"] == "failed" && a["error"].is_string()));
    assert_eq!(attempts.last().unwrap()["outcome"], "delivered");
}

#[tokio::test]
async fn a_webhook_failing_three_times_is_delivered_on_the_fourth_attempt() {
    let r = rig().await;
    r.hooks.answer_with(&[500, 503, 500]);
    vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    for when in [
        "2026-10-20T10:08:10+08:00",
        "2026-10-20T10:09:00+08:00",
        "2026-10-20T10:12:00+08:00",
        "2026-10-20T10:20:00+08:00",
    ] {
        r.app.clock.set(at(when));
        deliver(&r.app).await;
    }
    let hooks = r.hooks.received();
    let warnings: Vec<_> = hooks.iter().filter(|h| h.json["type"] == "sla.warning").collect();
    assert_eq!(warnings.len(), 4);
    assert!(warnings.iter().all(|h| h.id == warnings[0].id), "webhook-id is constant across retries");
    let log = r.app.get("/api/v1/notifications", &r.app.admin).await.body;
    let hook = log
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["channel"] == "webhook" && n["event_type"] == "sla.warning")
        .unwrap()
        .clone();
    assert_eq!(hook["status"], "delivered");
    let outcomes: Vec<&str> =
        hook["attempt_log"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["failed", "failed", "failed", "delivered"]);
    assert_eq!(hook["attempt_log"][0]["http_status"], 500);
}

#[tokio::test]
async fn a_400_is_a_dead_letter_at_once_and_a_retry_through_the_api_delivers_it() {
    let r = rig().await;
    r.hooks.answer_with(&[400]);
    vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    let dead = r.app.get("/api/v1/notifications?status=dead", &r.app.admin).await.body;
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(dead[0]["dead_reason"], "rejected");
    let id = dead[0]["id"].as_i64().unwrap();
    let lead = r.app.staff("lead").await;
    let engineer = r.app.staff("engineer").await;
    assert_eq!(r.app.post(&format!("/api/v1/notifications/{id}/retry"), &engineer, json!({})).await.status, 403);
    let retried = r.app.post(&format!("/api/v1/notifications/{id}/retry"), &lead, json!({})).await;
    assert_eq!((retried.status.as_u16(), retried.body["status"].as_str()), (200, Some("pending")));
    deliver(&r.app).await;
    let after = r
        .app
        .get(&format!("/api/v1/notifications?status=delivered&ticket_id={}", dead[0]["ticket_id"]), &r.app.admin)
        .await
        .body;
    assert!(after.as_array().unwrap().iter().any(|n| n["id"] == id));
    assert_eq!(r.app.post(&format!("/api/v1/notifications/{id}/retry"), &lead, json!({})).await.status, 409);
}

#[tokio::test]
async fn a_crash_between_claim_and_send_is_delivered_by_the_next_instance_once() {
    let r = swept_warning().await;
    // An instance claims every row and dies before sending; its lease names no holder (as
    // leases written before instances had names): it holds until it ends.
    use sea_orm::ConnectionTrait;
    let backend = r.app.state.db.get_database_backend();
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        "UPDATE outbox SET locked_until = $1, locked_by = NULL"
    } else {
        "UPDATE outbox SET locked_until = ?, locked_by = NULL"
    };
    let lease_end: chrono::DateTime<chrono::Utc> = at("2026-10-20T10:09:00+08:00");
    r.app
        .state
        .db
        .execute_raw(sea_orm::Statement::from_sql_and_values(backend, sql, [lease_end.into()]))
        .await
        .unwrap();
    let second = r.second("2026-10-20T10:08:30+08:00").await;
    deliver(&second).await;
    assert!(r.hooks.received().is_empty(), "the lease still holds");
    second.clock.set(at("2026-10-20T10:09:01+08:00"));
    deliver(&second).await;
    assert_eq!(types(&r.hooks), vec!["sla.warning"]);
    assert_eq!(r.smtp.mails().len(), 1);
    let delivered = second.get("/api/v1/notifications?status=delivered", &second.admin).await.body;
    assert_eq!(delivered.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn rows_the_sweep_hands_over_are_sent_once_even_when_another_instance_took_them_over() {
    let r = swept_warning().await;
    // The warning's rows are written leased to this instance (for its delivery, in memory); no
    // request has been made yet.
    let pending = r.app.get("/api/v1/notifications?status=pending", &r.app.admin).await.body;
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|n| n["attempts"] == 0), "{pending:?}");
    let second = r.second("2026-10-20T10:08:05+08:00").await;
    deliver(&second).await;
    assert!(r.hooks.received().is_empty(), "the lease holds them while the sweeping instance beats");
    // This instance stalls past `delivery.takeover_secs` (10 s) without a heartbeat; the other
    // one takes the rows over and sends them, though their lease has 49 s left.
    second.clock.set(at("2026-10-20T10:08:11+08:00"));
    deliver(&second).await;
    assert_eq!((types(&r.hooks), r.smtp.mails().len()), (vec!["sla.warning".to_string()], 1));
    // When this instance gets to them, they are no longer its own: it sends nothing twice.
    r.app.clock.set(at("2026-10-20T10:08:12+08:00"));
    deliver(&r.app).await;
    assert_eq!((types(&r.hooks), r.smtp.mails().len()), (vec!["sla.warning".to_string()], 1));
    let delivered = r.app.get("/api/v1/notifications?status=delivered", &r.app.admin).await.body;
    let delivered = delivered.as_array().unwrap();
    assert_eq!(delivered.len(), 2);
    assert!(delivered.iter().all(|n| n["attempts"] == 1), "one request each: {delivered:?}");
}

#[tokio::test]
async fn an_instance_that_stops_gives_back_the_rows_it_holds_and_another_sends_them_at_once() {
    let r = swept_warning().await;
    let released = opsline::services::instances::leave(&r.app.state, r.app.clock.now()).await.unwrap();
    assert_eq!(released, 2);
    let pending = r.app.get("/api/v1/notifications?status=pending", &r.app.admin).await.body;
    assert!(pending.as_array().unwrap().iter().all(|n| n["attempts"] == 0), "{pending:?}");
    let second = r.second("2026-10-20T10:08:01+08:00").await;
    deliver(&second).await;
    assert_eq!((types(&r.hooks), r.smtp.mails().len()), (vec!["sla.warning".to_string()], 1));
    // Nothing is left for the stopped instance to send.
    deliver(&r.app).await;
    assert_eq!(r.hooks.received().len(), 1);
}

#[tokio::test]
async fn a_handed_over_row_whose_lease_would_run_out_mid_batch_is_leased_again_then_sent() {
    let r = swept_warning().await;
    // 50 s on, 10 s of the lease remain: less than a batch may take (4 rounds × the rig's 3 s SMTP
    // timeout), so the rows are leased again before they are sent.
    r.app.clock.set(at("2026-10-20T10:08:50+08:00"));
    deliver(&r.app).await;
    assert_eq!((types(&r.hooks), r.smtp.mails().len()), (vec!["sla.warning".to_string()], 1));
    let delivered = r.app.get("/api/v1/notifications?status=delivered", &r.app.admin).await.body;
    let delivered = delivered.as_array().unwrap();
    assert_eq!(delivered.len(), 2);
    assert!(delivered.iter().all(|n| n["attempts"] == 1 && n["attempt_log"].as_array().unwrap().len() == 1));
}

#[tokio::test]
async fn a_target_that_resolves_to_nobody_is_a_dead_letter_no_recipient() {
    let extra = r#"
[[escalation.rules]]
name = "tell-the-assignee"
on = "breach"
timer = "plan"
notify = ["role:assignee"]
"#;
    let r = rig_with(extra, None, None).await;
    vip_ticket(&r.app, "II").await; // plan due 11:00; nobody assigned, no team, no leads with e-mail
    tick(&r.app, "2026-10-20T11:00:01+08:00").await;
    let dead = r.app.get("/api/v1/notifications?status=dead", &r.app.admin).await.body;
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(
        (dead[0]["dead_reason"].as_str(), dead[0]["target"].as_str()),
        (Some("no_recipient"), Some("role:assignee"))
    );
}

#[tokio::test]
async fn the_assignee_falls_back_to_the_team_lead_and_then_to_every_lead() {
    let extra = r#"
[[escalation.rules]]
name = "tell-the-assignee"
on = "breach"
timer = "plan"
notify = ["role:assignee"]

[teams.noc]
display_name = "NOC"
lead = "noc-lead"
"#;
    let r = rig_with(extra, None, None).await;
    let app = &r.app;
    for (name, role, email) in [
        ("noc-lead", "lead", "noc-lead@example.com"),
        ("other-lead", "lead", "other-lead@example.com"),
        ("eng", "engineer", "eng@example.com"),
    ] {
        let u = app
            .post(
                "/api/v1/users",
                &app.admin,
                json!({"username": name, "role": role, "email": email, "language": "en"}),
            )
            .await;
        assert_eq!(u.status, 201, "{}", u.body);
    }
    let users = app.get("/api/v1/users", &app.admin).await.body;
    let eng = users.as_array().unwrap().iter().find(|u| u["username"] == "eng").unwrap()["id"].as_i64().unwrap();
    let assigned = vip_ticket(app, "II").await["id"].as_i64().unwrap();
    app.act(assigned, "assign", &app.admin, json!({"assignee": eng})).await;
    let team_only = vip_ticket(app, "II").await["id"].as_i64().unwrap();
    app.act(team_only, "assign", &app.admin, json!({"assignee": null, "team": "noc"})).await;
    let nobody = vip_ticket(app, "II").await["id"].as_i64().unwrap();
    tick(app, "2026-10-20T11:00:01+08:00").await;
    let mut to: Vec<(i64, String)> = Vec::new();
    for n in app.get("/api/v1/notifications", &app.admin).await.body.as_array().unwrap() {
        to.push((n["ticket_id"].as_i64().unwrap(), n["target"].as_str().unwrap().to_string()));
    }
    to.sort();
    let mut expected = vec![
        (assigned, "eng@example.com".to_string()),
        (team_only, "noc-lead@example.com".to_string()),
        (nobody, "noc-lead@example.com".to_string()),
        (nobody, "other-lead@example.com".to_string()),
    ];
    expected.sort();
    assert_eq!(to, expected);
    assert_eq!(r.smtp.mails().len(), 4);
    assert!(
        r.smtp.mails().iter().all(|m| m.header("Subject").unwrap().contains("breached")),
        "English for English-speaking users"
    );
}

#[tokio::test]
async fn the_customer_hears_about_their_ticket_in_their_language() {
    let extra = r#"
[[escalation.rules]]
name = "status-mail"
on = "opened"
notify = ["contact:customer"]

[[escalation.rules]]
name = "status-mail-responded"
on = "responded"
notify = ["contact:customer"]
"#;
    let r = rig_with(extra, None, None).await;
    let app = &r.app;
    let c = app.customer("ACME", "vip").await;
    let contact = app
        .post(
            &format!("/api/v1/customers/{c}/contacts"),
            &app.admin,
            json!({"name": "Ann", "email": "ann@acme.example", "language": "en"}),
        )
        .await
        .body;
    let t = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": c, "contact_id": contact["id"], "title": "printer error"}),
        )
        .await
        .body;
    app.act(t["id"].as_i64().unwrap(), "respond", &app.admin, json!({"message": "on it"})).await;
    deliver(app).await;
    let mails = r.smtp.mails();
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().all(|m| m.to == vec!["ann@acme.example"]));
    let portal = format!("http://opsline.test/portal/tickets/{}", t["number"].as_str().unwrap());
    assert!(mails.iter().all(|m| m.text().contains(&portal)), "a contact's link is the portal's: {}", mails[0].text());
    let mut subjects: Vec<String> = mails.iter().map(|m| m.header("Subject").unwrap()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            format!("[Opsline] {} level III: opened", t["number"].as_str().unwrap()),
            format!("[Opsline] {} level III: responded", t["number"].as_str().unwrap())
        ]
    );
}

#[tokio::test]
async fn an_oncall_rotation_notifies_whoever_is_on_duty() {
    let extra = r#"
[[escalation.rules]]
name = "page-oncall"
on = "breach"
timer = "response"
notify = ["oncall:l2"]

[[oncall.l2]]
user = "day"
from = "2026-10-20T08:00"
to = "2026-10-20T20:00"
timezone = "Asia/Shanghai"

[[oncall.l2]]
user = "night"
from = "2026-10-20T20:00"
to = "2026-10-21T08:00"
timezone = "Asia/Shanghai"
"#;
    let r = rig_with(extra, None, None).await;
    let app = &r.app;
    for name in ["day", "night"] {
        app.post(
            "/api/v1/users",
            &app.admin,
            json!({"username": name, "role": "engineer", "email": format!("{name}@example.com")}),
        )
        .await;
    }
    vip_ticket(app, "III").await;
    app.clock.set(at("2026-10-20T20:30:00+08:00"));
    vip_ticket(app, "III").await;
    tick(app, "2026-10-20T21:00:00+08:00").await;
    let mut to: Vec<String> = r.smtp.mails().iter().map(|m| m.to[0].clone()).collect();
    to.sort();
    assert_eq!(to, vec!["day@example.com", "night@example.com"]);
}

#[tokio::test]
async fn misconfigured_rules_are_refused_with_their_keys() {
    use opsline::config::{Config, ConfigSource};
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(crate::helpers::config_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(
        dir.path().join("test.toml"),
        r#"
[web]
secret_key = "0123456789abcdef0123456789abcdef"
[[escalation.rules]]
on = "warning"
timer = "response"
notify = ["team:nope", "webhook:missing", "pager:123"]
[[escalation.rules]]
on = "opened"
at = "80%"
notify = ["email:a@b.example"]
"#,
    )
    .unwrap();
    let err =
        Config::load(&ConfigSource { dir: dir.path().into(), environment: "test".into(), env: Default::default() })
            .unwrap_err()
            .to_string();
    for key in [
        "escalation.rules[0].at",
        "escalation.rules[0].notify[0]",
        "escalation.rules[0].notify[1]",
        "escalation.rules[0].notify[2]",
        "escalation.rules[1].at",
    ] {
        assert!(err.contains(key), "missing {key} in:\n{err}");
    }
}

#[tokio::test]
async fn two_instances_on_one_postgresql_fire_and_deliver_each_of_500_breaches_once() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("skipped: two instances sharing one database is a PostgreSQL deployment (set TEST_DATABASE_URL)");
        return;
    }
    let hooks = WebhookReceiver::start(SECRET).await;
    let overlay = format!(
        r#"
[[escalation.rules]]
name = "breach-hook"
on = "breach"
timer = "response"
notify = ["webhook:ops"]

[webhooks.endpoints.ops]
url = "{}"
secret = "{SECRET}"
"#,
        hooks.url()
    );
    let options = |db_url: Option<String>| Options {
        overlay: Some(overlay.clone()),
        db_url,
        env: vec![("OPSLINE_SWEEP__BATCH".into(), "50".into())],
        ..Default::default()
    };
    let a = spawn_with(options(None)).await;
    let b = spawn_with(options(Some(a.db.url.clone()))).await;
    let c = a.customer("VIP", "vip").await;
    let opened: Vec<_> = futures_util::stream::iter(0..500)
        .map(|i| {
            a.post("/api/v1/tickets", &a.admin, json!({"customer_id": c, "title": format!("outage {i}"), "level": "I"}))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(opened.iter().all(|r| r.status == 201));
    let when = at("2026-10-20T10:10:01+08:00");
    a.clock.set(when);
    b.clock.set(when);
    for _ in 0..40 {
        let (x, y) = tokio::join!(
            opsline::services::escalation::sweep::run_once(&a.state, when),
            opsline::services::escalation::sweep::run_once(&b.state, when)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        let (d1, d2) = tokio::join!(
            opsline::services::delivery::run_once(&a.state, &a.state.notifier, when),
            opsline::services::delivery::run_once(&b.state, &b.state.notifier, when)
        );
        let (d1, d2) = (d1.unwrap(), d2.unwrap());
        if x.timers + y.timers + d1.claimed + d2.claimed == 0 {
            break;
        }
    }
    use sea_orm::ConnectionTrait;
    let db = a.state.db.clone();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) AS n FROM escalation_events").await, 500);
    assert_eq!(count("SELECT COUNT(*) AS n FROM outbox WHERE status = 'delivered'").await, 500);
    assert_eq!(count("SELECT COUNT(*) AS n FROM outbox").await, 500);
    let received = hooks.received();
    let mut ids: Vec<String> = received.iter().map(|h| h.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((received.len(), ids.len()), (500, 500), "each webhook-id received once");
    assert!(received.iter().all(|h| h.verified));
}

#[tokio::test]
async fn webhooks_to_internal_addresses_are_refused_unless_allowed() {
    let hooks = WebhookReceiver::start(SECRET).await;
    let app = spawn_with(Options {
        overlay: Some(rules("")),
        env: vec![
            ("OPSLINE_WEBHOOKS__ENDPOINTS__OPS__URL".into(), hooks.url()),
            ("OPSLINE_WEBHOOKS__ALLOWED_NETWORKS".into(), "[\"10.0.0.0/8\"]".into()),
        ],
        ..Default::default()
    })
    .await;
    vip_ticket(&app, "I").await;
    tick(&app, "2026-10-20T10:08:00+08:00").await;
    assert!(hooks.received().is_empty());
    let dead = app.get("/api/v1/notifications?status=dead", &app.admin).await.body;
    let hook = dead.as_array().unwrap().iter().find(|n| n["channel"] == "webhook").unwrap().clone();
    assert!(hook["last_error"].as_str().unwrap().contains("allowed_networks"), "{hook}");
}

#[tokio::test]
async fn the_background_loops_sweep_and_deliver_by_themselves() {
    let hooks = WebhookReceiver::start(SECRET).await;
    let app = spawn_with(Options {
        overlay: Some(rules("")),
        env: vec![
            ("OPSLINE_WEBHOOKS__ENDPOINTS__OPS__URL".into(), hooks.url()),
            ("OPSLINE_WORKERS__ENABLED".into(), "true".into()),
        ],
        ..Default::default()
    })
    .await;
    vip_ticket(&app, "I").await;
    app.clock.set(at("2026-10-20T10:10:01+08:00"));
    app.state.wake_sweep.notify_one();
    // The loops run on their own; wait (bounded) for them to act, without moving time.
    let ten = std::time::Duration::from_secs(10);
    eventually("the loops to deliver the breach", ten, || async {
        types(&hooks).contains(&"sla.breach".to_string()).then_some(())
    })
    .await;
    assert_eq!(types(&hooks), vec!["sla.breach"]);
}
