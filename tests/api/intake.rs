//! Alerts and events become tickets: integration keys, Alertmanager's webhook payload and the
//! PagerDuty-shaped events, by their own semantics — and a real Alertmanager (PostgreSQL pass)
//! notifying Opsline, repeats included, without a duplicate ticket.

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn};
use crate::receivers::Program;

fn alert(fingerprint: &str, status: &str, severity: &str, starts: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "DiskFull", "instance": "db-1", "severity": severity},
        "annotations": {"summary": format!("Disk full on db-1 ({fingerprint})"), "description": "/var is at 99%"},
        "startsAt": starts,
        "endsAt": if status == "firing" { "0001-01-01T00:00:00Z" } else { "2026-10-20T03:00:00Z" },
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fingerprint,
    })
}

/// Alertmanager's payload, with the fields newer versions add (to be ignored).
fn notification(alerts: Vec<Value>) -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "opsline", "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example", "notification_reason": "first notification", "routeLabels": {},
        "alerts": alerts,
    })
}

async fn send(app: &TestApp, key: &str, body: Value) -> Value {
    let r = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(key), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn results(body: &Value) -> Vec<String> {
    body["alerts"].as_array().unwrap().iter().map(|a| a["result"].as_str().unwrap().to_string()).collect()
}

async fn integration_tickets(app: &TestApp) -> Vec<Value> {
    let r = app.get("/api/v1/tickets?limit=200", &app.admin).await;
    r.body["items"].as_array().unwrap().iter().filter(|t| t["source"] == "integration").cloned().collect()
}

async fn events_of(app: &TestApp, ticket: i64) -> Vec<String> {
    let r = app.get(&format!("/api/v1/tickets/{ticket}/events"), &app.admin).await;
    r.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn integration_keys_are_shown_once_audited_and_replaced_keys_stop_working() {
    let app = spawn().await;
    let cust = app.customer("Acme", "vip").await;
    let old = app.integration_key(cust, json!({"kind": "alertmanager"})).await;
    let listed = app.get(&format!("/api/v1/customers/{cust}/integrations"), &app.admin).await.body;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].get("key").is_none(), "{listed}");
    assert_eq!(items[0]["severity_levels"]["critical"], "I");
    assert_eq!(send(&app, &old, notification(vec![])).await["alerts"], json!([]));

    let new =
        app.integration_key(cust, json!({"kind": "alertmanager", "default_level": "II", "auto_resolve": true})).await;
    let r = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&old), Some(notification(vec![]))).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].as_str()), (401, Some("unauthorized")));
    send(&app, &new, notification(vec![])).await;
    // A key of another kind is no key here; a made-up one neither.
    let events = app.integration_key(cust, json!({"kind": "events"})).await;
    for k in [events.as_str(), "oik_nothing_here"] {
        let r = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(k), Some(notification(vec![]))).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let audit = app.get("/api/v1/audit?limit=10", &app.admin).await.body;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..3], ["integration.created", "integration.replaced", "integration.created"]);
    assert!(!audit.to_string().contains(&new[4..]), "no key in the audit log");
    // Bad settings write nothing.
    for bad in [
        json!({"kind": "pager"}),
        json!({"kind": "events", "default_level": "V"}),
        json!({"kind": "events", "extra": 1}),
    ] {
        let r = app.post(&format!("/api/v1/customers/{cust}/integrations"), &app.admin, bad.clone()).await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.status);
    }
    let r = app.post("/api/v1/customers/999999/integrations", &app.admin, json!({"kind": "events"})).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn alertmanager_alerts_open_add_resolve_and_reopen_tickets_and_repeats_change_nothing() {
    let app = spawn().await;
    let cust = app.customer("Acme", "vip").await;
    let key = app.integration_key(cust, json!({"kind": "alertmanager", "auto_resolve": true})).await;
    let starts = "2026-10-20T01:55:00Z";
    let first = notification(vec![
        alert("aaaa000000000001", "firing", "critical", starts),
        alert("bbbb000000000002", "firing", "warning", starts),
    ]);
    assert_eq!(results(&send(&app, &key, first.clone()).await), ["opened", "opened"]);
    let tickets = integration_tickets(&app).await;
    assert_eq!(tickets.len(), 2);
    let by_fp =
        |fp: &str| tickets.iter().find(|t| t["title"].as_str().unwrap().contains(fp)).unwrap()["id"].as_i64().unwrap();
    let (critical, warning) = (by_fp("aaaa000000000001"), by_fp("bbbb000000000002"));
    let t = app.get(&format!("/api/v1/tickets/{critical}"), &app.admin).await.body;
    assert_eq!((t["level"].as_str(), t["status"].as_str()), (Some("I"), Some("open")));
    assert!(t["description"].as_str().unwrap().contains("severity = critical"), "{t}");
    let t = app.get(&format!("/api/v1/tickets/{warning}"), &app.admin).await.body;
    assert_eq!(t["level"], "III");

    // The same notification again (a repeat, or the other Alertmanager of an HA pair).
    assert_eq!(results(&send(&app, &key, first).await), ["unchanged", "unchanged"]);
    assert_eq!(integration_tickets(&app).await.len(), 2);

    // The critical alert fires anew while its ticket is open: recorded on it.
    app.clock.advance(Duration::minutes(5));
    let again = notification(vec![alert("aaaa000000000001", "firing", "critical", "2026-10-20T02:04:00Z")]);
    assert_eq!(results(&send(&app, &key, again).await), ["added"]);
    assert_eq!(events_of(&app, critical).await.iter().filter(|e| *e == "alert_firing").count(), 2);

    // Resolved: a comment, the event, and (auto_resolve) the ticket resolved; twice is once.
    let resolved = notification(vec![alert("aaaa000000000001", "resolved", "critical", "2026-10-20T02:04:00Z")]);
    assert_eq!(results(&send(&app, &key, resolved.clone()).await), ["resolved"]);
    assert_eq!(results(&send(&app, &key, resolved).await), ["unchanged"]);
    let t = app.get(&format!("/api/v1/tickets/{critical}"), &app.admin).await.body;
    assert_eq!(t["status"], "resolved");
    assert_eq!(t["sla"]["response"]["state"], "auto_resolved", "{}", t["sla"]);
    let ev = events_of(&app, critical).await;
    assert!(ev.contains(&"alert_resolved".to_string()) && ev.contains(&"resolved".to_string()), "{ev:?}");
    let comments = app.get(&format!("/api/v1/tickets/{critical}/comments"), &app.admin).await.body;
    assert!(comments.to_string().contains("resolved at"), "{comments}");

    // Firing again within the reopen window reopens it…
    app.clock.advance(Duration::minutes(30));
    let refire = notification(vec![alert("aaaa000000000001", "firing", "critical", "2026-10-20T02:40:00Z")]);
    assert_eq!(results(&send(&app, &key, refire).await), ["reopened"]);
    let t = app.get(&format!("/api/v1/tickets/{critical}"), &app.admin).await.body;
    assert_eq!(t["status"], "in_progress");
    // …and after the window, a resolved alert that fires again opens a new ticket.
    let gone = notification(vec![alert("aaaa000000000001", "resolved", "critical", "2026-10-20T02:40:00Z")]);
    assert_eq!(results(&send(&app, &key, gone).await), ["resolved"]);
    app.clock.advance(Duration::hours(2));
    let later = notification(vec![alert("aaaa000000000001", "firing", "critical", "2026-10-20T04:45:00Z")]);
    let body = send(&app, &key, later).await;
    assert_eq!(results(&body), ["opened"]);
    assert_ne!(body["alerts"][0]["ticket_id"].as_i64().unwrap(), critical);
    assert_eq!(integration_tickets(&app).await.len(), 3);

    // Bad payloads: refused with the field, nothing written.
    for (bad, field) in [
        (json!({"version": "3", "alerts": []}), "version"),
        (notification(vec![json!({"status": "firing", "fingerprint": ""})]), "alerts[0].fingerprint"),
        (notification(vec![json!({"status": "pending", "fingerprint": "x"})]), "alerts[0].status"),
    ] {
        let r = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&key), Some(bad)).await;
        assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (422, Some(field)), "{}", r.body);
    }
    assert_eq!(integration_tickets(&app).await.len(), 3);
}

#[tokio::test]
async fn a_storm_of_250_alerts_opens_each_ticket_once_in_batches_beside_known_and_repeated_ones() {
    let app = spawn().await;
    let cust = app.customer("Acme", "vip").await;
    let key = app.integration_key(cust, json!({"kind": "alertmanager"})).await;
    let starts = "2026-10-20T01:55:00Z";
    assert_eq!(
        results(&send(&app, &key, notification(vec![alert("known", "firing", "critical", starts)])).await),
        ["opened"]
    );
    // 250 new alerts (three transactions' worth), one already known firing anew, and one
    // fingerprint twice in the same notification.
    let mut alerts: Vec<Value> =
        (0..250).map(|i| alert(&format!("storm{i:04}"), "firing", "warning", starts)).collect();
    alerts.insert(100, alert("known", "firing", "critical", "2026-10-20T01:58:00Z"));
    alerts.push(alert("twice", "firing", "warning", starts));
    alerts.push(alert("twice", "firing", "warning", starts));
    let storm = notification(alerts);
    let body = send(&app, &key, storm.clone()).await;
    let got = results(&body);
    assert_eq!(got.len(), 253);
    assert_eq!(got[100], "added");
    assert_eq!(&got[251..], ["opened", "unchanged"]);
    assert_eq!(got.iter().filter(|r| *r == "opened").count(), 251);
    // Each opened alert names its own ticket, in the notification's order.
    let ids: std::collections::HashSet<i64> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["result"] == "opened")
        .map(|a| a["ticket_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 251);
    let t = app.get(&format!("/api/v1/tickets/{}", body["alerts"][7]["ticket_id"]), &app.admin).await.body;
    assert!(t["title"].as_str().unwrap().contains("storm0007"), "{}", t["title"]);
    assert_eq!(t["sla"]["response"]["state"], "running", "{}", t["sla"]);
    // Sent again, as Alertmanager repeats: nothing changes.
    assert!(results(&send(&app, &key, storm).await).iter().all(|r| r == "unchanged"));
    use sea_orm::{EntityTrait, PaginatorTrait};
    let tickets = opsline::persistence::entities::ticket::Entity::find().count(&app.state.db).await.unwrap();
    assert_eq!(tickets, 252);
}

async fn event(app: &TestApp, token: Option<&str>, query: &str, body: Value) -> (u16, Value) {
    let r = app.call(Method::POST, &format!("/api/v1/integrations/events{query}"), token, Some(body)).await;
    (r.status.as_u16(), r.body)
}

#[tokio::test]
async fn events_trigger_acknowledge_and_resolve_by_dedup_key_in_the_events_api_shape() {
    let app = spawn().await;
    let cust = app.customer("Acme", "vip").await;
    let key = app.integration_key(cust, json!({"kind": "events", "severity_levels": {"critical": "II"}})).await;
    let trigger = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "disk-db-1",
        "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical",
                    "custom_details": {"free": "1%"}}});
    let (status, body) = event(&app, None, "", trigger.clone()).await;
    assert_eq!(
        (status, &body),
        (202, &json!({"status": "success", "message": "Event processed", "dedup_key": "disk-db-1"}))
    );
    let tickets = integration_tickets(&app).await;
    assert_eq!(tickets.len(), 1);
    let id = tickets[0]["id"].as_i64().unwrap();
    assert_eq!(tickets[0]["level"], "II", "the integration's severity map applies");
    // The same event again: nothing new.
    assert_eq!(event(&app, None, "", trigger).await.0, 202);
    assert_eq!(events_of(&app, id).await.iter().filter(|e| *e == "alert_firing").count(), 1);

    let ack = json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "disk-db-1"});
    assert_eq!(event(&app, None, "", ack).await.0, 202);
    assert!(events_of(&app, id).await.contains(&"alert_acknowledged".to_string()));
    let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!(
        (t["status"].as_str(), t["sla"]["response"]["state"].as_str()),
        (Some("open"), Some("running")),
        "no timer met"
    );

    // A lead may send with ?customer_id= instead of a key (the routing key is then ignored).
    let lead = app.staff("lead").await;
    let resolve = json!({"routing_key": "ignored", "event_action": "resolve", "dedup_key": "disk-db-1"});
    let (status, _) = event(&app, Some(&lead), &format!("?customer_id={cust}"), resolve.clone()).await;
    assert_eq!(status, 202);
    assert!(events_of(&app, id).await.contains(&"alert_resolved".to_string()));
    let agent = app.staff("agent").await;
    assert_eq!(event(&app, Some(&agent), &format!("?customer_id={cust}"), resolve).await.0, 403);

    // Invalid events: 400 in the Events API's shape, listing every problem; nothing written.
    let (status, body) =
        event(&app, None, "", json!({"routing_key": key, "event_action": "trigger", "payload": {}})).await;
    assert_eq!((status, body["status"].as_str()), (400, Some("invalid event")));
    assert_eq!(body["errors"].as_array().unwrap().len(), 3, "{body}");
    let (status, body) =
        event(&app, None, "", json!({"routing_key": "oik_nope_nope", "event_action": "resolve", "dedup_key": "x"}))
            .await;
    assert_eq!((status, body["message"].as_str()), (400, Some("Invalid routing key")));
    let r =
        app.client.post(format!("{}/api/v1/integrations/events", app.address)).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "invalid event");
    assert_eq!(integration_tickets(&app).await.len(), 1);
}

// ---- a real Alertmanager ----

async fn start_alertmanager(receiver: &str, key: &str) -> Program {
    let config = format!(
        "route:\n  receiver: opsline\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 2s\n\
         receivers:\n  - name: opsline\n    webhook_configs:\n      - url: {receiver}\n        send_resolved: true\n        \
         http_config:\n          authorization:\n            credentials: {key}\n"
    );
    Program::start(
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
        "am.yml",
        &config,
        |dir, port| {
            vec![
                format!("--config.file={}", dir.join("am.yml").display()),
                format!("--storage.path={}", dir.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--cluster.listen-address=".to_string(),
            ]
        },
    )
    .await
}

/// Waits (real time: Alertmanager notifies on its own schedule) until `done`.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    eventually(what, std::time::Duration::from_secs(30), || {
        let f = done();
        async move { f.await.then_some(()) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_opens_and_resolves_tickets_and_its_repeats_add_none() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("runs once, on PostgreSQL (TEST_DATABASE_URL)");
        return;
    }
    let app = spawn().await;
    let cust = app.customer("Acme", "vip").await;
    let key = app.integration_key(cust, json!({"kind": "alertmanager", "auto_resolve": true})).await;
    let am = start_alertmanager(&format!("{}/api/v1/integrations/alertmanager", app.address), &key).await;
    let client = reqwest::Client::new();
    let post = |alerts: Value| {
        let (client, url) = (client.clone(), format!("{}/api/v2/alerts", am.url));
        async move {
            let r = client.post(url).json(&alerts).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
    };
    let labels = json!({"alertname": "ProbeFailure", "instance": "portal.acme.example", "severity": "critical"});
    let firing =
        json!([{"labels": labels, "annotations": {"summary": "Portal down"}, "generatorURL": "http://prom/x"}]);
    post(firing.clone()).await;
    until("a ticket for the alert", || async { integration_tickets(&app).await.len() == 1 }).await;
    let id = integration_tickets(&app).await[0]["id"].as_i64().unwrap();
    // Alertmanager repeats the notification every 2 s while the alert fires, and the client
    // re-sends it: wait for two repeats to reach Opsline, then count.
    let firings = || async {
        let r = app.get(&format!("/api/v1/tickets/{id}/events"), &app.admin).await;
        r.body.as_array().unwrap().len()
    };
    let before = firings().await;
    let sent = || async {
        let text = reqwest::get(format!("{}/metrics", am.url)).await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with("alertmanager_notifications_total{") && l.contains("integration=\"webhook\""))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>()
    };
    let sent_before = sent().await;
    post(firing).await;
    until("two more notifications from Alertmanager", || async { sent().await >= sent_before + 2.0 }).await;
    assert_eq!(integration_tickets(&app).await.len(), 1, "repeats open no second ticket");
    assert_eq!(firings().await, before, "repeats of the same alert change nothing");
    let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!((t["level"].as_str(), t["title"].as_str()), (Some("I"), Some("Portal down")));

    // Resolving it at Alertmanager resolves the ticket (auto_resolve).
    let ended = (chrono::Utc::now() - Duration::seconds(1)).to_rfc3339();
    post(json!([{"labels": labels, "annotations": {"summary": "Portal down"}, "endsAt": ended}])).await;
    until("the ticket resolved", || async {
        app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body["status"] == "resolved"
    })
    .await;
    assert_eq!(integration_tickets(&app).await.len(), 1);
}
