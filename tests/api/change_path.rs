//! Every ticket change takes one path: what a person's change does, Opsline's own does too —
//! rules told, loops woken, conflicts retried — and a configuration warning never drops anything.

use std::time::Duration as StdDuration;

use chrono::Duration;
use opsline::services::checks::runner;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
use serde_json::{Value, json};

use opsline::domain::actor::Actor;
use opsline::domain::ticket::Change;

use crate::escalation::{deliver, rig_with};
use crate::helpers::{Act, Options, TestApp, eventually, spawn_with};
use crate::receivers::TargetServer;

const TOLD_RESOLVED: &str = r#"
[[escalation.rules]]
name = "told-resolved"
on = "resolved"
notify = ["webhook:ops"]
"#;

/// Takes a pending wake-up of the loop, if there is one: true when something woke it.
async fn woken(n: &tokio::sync::Notify) -> bool {
    tokio::time::timeout(StdDuration::from_millis(20), n.notified()).await.is_ok()
}

async fn resolved_hooks(hooks: &crate::receivers::WebhookReceiver) -> Vec<i64> {
    hooks
        .received()
        .iter()
        .filter(|h| h.json["type"] == "ticket.resolved")
        .map(|h| h.json["ticket"]["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn opsline_resolving_a_ticket_tells_the_resolved_rules_and_wakes_delivery_as_a_person_does() {
    let r = rig_with(TOLD_RESOLVED, None, None).await;
    let app = &r.app;
    let cust = app.customer("Acme", "vip").await;
    let am = app.integration_key(cust, json!({"kind": "alertmanager", "auto_resolve": true})).await;
    let ev = app.integration_key(cust, json!({"kind": "events", "auto_resolve": true})).await;

    // A person resolves: the rule hears of it.
    let by_person = app.open_ticket(cust, "printer jam").await;
    woken(&app.state.wake_delivery).await;
    assert_eq!(app.change(&by_person, &app.admin, Act::Resolve("cleared")).await.status, 200);
    assert!(woken(&app.state.wake_delivery).await, "a person's resolve wakes delivery");
    let by_person = by_person.id;

    // An Alertmanager alert fires and resolves.
    let alert = |status: &str| {
        json!({"version": "4", "status": status, "alerts": [{
            "status": status, "labels": {"alertname": "DiskFull", "severity": "critical"},
            "annotations": {"summary": "Disk full"}, "startsAt": "2026-10-20T02:00:00Z", "fingerprint": "fp-1"}]})
    };
    let fired = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&am), Some(alert("firing"))).await;
    let by_alert = fired.body["alerts"][0]["ticket_id"].as_i64().unwrap();
    woken(&app.state.wake_delivery).await;
    app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&am), Some(alert("resolved"))).await;
    assert!(woken(&app.state.wake_delivery).await, "an alert's resolve wakes delivery");

    // An events `resolve`.
    let trigger = json!({"routing_key": ev, "event_action": "trigger", "dedup_key": "db-1",
                         "payload": {"summary": "DB down", "source": "db-1", "severity": "critical"}});
    assert_eq!(app.call(Method::POST, "/api/v1/integrations/events", None, Some(trigger)).await.status, 202);
    let resolve = json!({"routing_key": ev, "event_action": "resolve", "dedup_key": "db-1"});
    woken(&app.state.wake_delivery).await;
    assert_eq!(app.call(Method::POST, "/api/v1/integrations/events", None, Some(resolve)).await.status, 202);
    assert!(woken(&app.state.wake_delivery).await, "an event's resolve wakes delivery");
    let tickets = app.get("/api/v1/tickets?limit=200", &app.admin).await.body;
    let by_event =
        tickets["items"].as_array().unwrap().iter().find(|t| t["title"] == "DB down").unwrap()["id"].as_i64().unwrap();

    // A check goes down and recovers with auto_resolve.
    let target = TargetServer::start().await;
    target.answer(500, "down");
    let c = app
        .post(
            "/api/v1/checks",
            &app.admin,
            json!({"name": "acme-web", "kind": "http", "url": target.url("/"), "interval": "30s",
                   "customer_id": cust, "failure_threshold": 1, "success_threshold": 1, "auto_resolve": true}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    runner::run_once(&app.state, app.clock.now()).await.unwrap();
    let by_check =
        app.get(&format!("/api/v1/checks/{}", c.body["id"]), &app.admin).await.body["ticket_id"].as_i64().unwrap();
    target.answer(200, "up");
    app.clock.advance(Duration::seconds(30));
    woken(&app.state.wake_delivery).await;
    runner::run_once(&app.state, app.clock.now()).await.unwrap();
    assert!(woken(&app.state.wake_delivery).await, "a check's recovery wakes delivery");

    for id in [by_alert, by_event, by_check] {
        let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
        assert_eq!(
            (t["status"].as_str(), t["sla"]["plan"]["state"].as_str()),
            (Some("resolved"), Some("auto_resolved"))
        );
    }
    deliver(app).await;
    let mut told = resolved_hooks(&r.hooks).await;
    told.sort_unstable();
    let mut expected = vec![by_person, by_alert, by_event, by_check];
    expected.sort_unstable();
    assert_eq!(told, expected, "the resolved rule heard of every resolve, by a person or by Opsline");
}

const ODD_POLICY: &str = r#"
[sla_policies.odd]
[sla_policies.odd.I]
response = "10m"
plan = "30m"
resolution = "end_of_day"
[sla_policies.odd.II]
response = "10m"
plan = "13h"
resolution = "1d"
[sla_policies.odd.III]
response = "10m"
plan = "2h"
resolution = "3d"
[sla_policies.odd.IV]
response = "10m"
plan = "2h"
resolution = "5d"
"#;

#[tokio::test]
async fn a_policy_with_only_a_warning_is_loaded_previewed_and_used_for_tickets() {
    let app = spawn_with(Options { overlay: Some(ODD_POLICY.into()), ..Default::default() }).await;
    let warned = app.state.config.warnings.iter().any(|w| w.key == "sla_policies.odd.II.resolution");
    assert!(warned, "the warning is still reported: {:?}", app.state.config.warnings);
    assert!(app.state.config.runtime.policies.contains_key("odd"), "a warning drops nothing");

    let preview = app
        .post(
            "/api/v1/sla/preview",
            &app.admin,
            json!({"calendar": "business", "sla_policy": "odd", "level": "II", "opened_at": "2026-10-20T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.body["plan"]["target"], "13h");

    let cust = app.customer("Odd Corp", "standard").await;
    let patched = app
        .call(Method::PATCH, &format!("/api/v1/customers/{cust}"), Some(&app.admin), Some(json!({"sla_policy": "odd"})))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let t = app
        .post("/api/v1/tickets", &app.admin, json!({"customer_id": cust, "title": "slow reports", "level": "II"}))
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    assert_eq!(t.body["sla"]["plan"]["target"], "13h");
}

/// PostgreSQL only: another writer holds the ticket's row while Opsline's change waits for it,
/// then commits a newer version. SQLite has one writer per instance, so there the change simply
/// runs.
async fn with_a_concurrent_writer(
    app: &TestApp,
    ticket: i64,
    work: impl std::future::Future<Output = Value> + Send + 'static,
) -> Value {
    if !app.db.url.starts_with("postgres") {
        return work.await;
    }
    let other = Database::connect(&app.db.url).await.unwrap();
    let txn = other.begin().await.unwrap();
    txn.execute_unprepared(&format!("UPDATE tickets SET version = version + 1 WHERE id = {ticket}")).await.unwrap();
    let task = tokio::spawn(work);
    // Wait until Opsline's change is blocked on the row, then let the other writer win.
    let blocked =
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()";
    eventually("Opsline's change to wait for the row", StdDuration::from_secs(5), || async {
        let row = other
            .query_one_raw(Statement::from_string(other.get_database_backend(), blocked.to_string()))
            .await
            .unwrap()
            .unwrap();
        (row.try_get::<i64>("", "n").unwrap() > 0).then_some(())
    })
    .await;
    txn.commit().await.unwrap();
    task.await.unwrap()
}

#[tokio::test]
async fn opsline_retries_its_own_changes_after_a_conflict_as_it_does_a_persons() {
    let app = spawn_with(Options::default()).await;
    let cust = app.customer("Acme", "vip").await;
    let waiting = app.open_ticket(cust, "needs logs").await;
    app.change(&waiting, &app.admin, Act::Respond("send logs")).await;
    assert_eq!(app.change(&waiting, &app.admin, Act::WaitCustomer("logs")).await.status, 200);
    let resolved = app.open_ticket(cust, "fixed soon").await;
    assert_eq!(app.change(&resolved, &app.admin, Act::Resolve("done")).await.status, 200);

    // Both are due for Opsline's upkeep: max_wait (5 working days) and auto_close_after (5 days).
    app.clock.advance(Duration::days(10));
    let state = app.state.clone();
    let now = app.clock.now();
    let run = async move {
        let o = opsline::services::upkeep::run_once(&state, now).await.unwrap();
        json!({"resumed": o.resumed, "closed": o.closed})
    };
    // The conflict is on the ticket that resumes first; the close runs after it.
    let out = with_a_concurrent_writer(&app, waiting.id, run).await;
    assert_eq!(out, json!({"resumed": 1, "closed": 1}), "the conflicted resume is retried, not dropped");
    assert_eq!(app.reload(&waiting).await.status, "in_progress");
    assert_eq!(app.reload(&resolved).await.status, "closed");

    let state = app.state.clone();
    let flaky = app.open_ticket(cust, "flaky").await;
    app.change(&flaky, &app.admin, Act::Resolve("done")).await;
    let reopen = flaky.id;
    let now = app.clock.now();
    let run = async move {
        let change = Change::Reopen { reason: "fired again".into() };
        let req = opsline::services::tickets::ChangeRequest::new(reopen, change);
        let done = opsline::services::tickets::change(&state, &Actor::system("alertmanager"), req, now).await;
        json!(done.is_ok())
    };
    assert_eq!(with_a_concurrent_writer(&app, reopen, run).await, json!(true), "the conflicted reopen is retried");
    assert_eq!(app.reload(&flaky).await.status, "in_progress");
}
