//! Health checks against real targets: a local HTTP server that answers as told and counts
//! requests, a closed TCP port, the real PostgreSQL, the machine's own disks. Time moves by the
//! manual clock; the runner is driven through `run_once`.

use chrono::Duration;
use opsline::services::checks::runner;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, eventually, spawn, spawn_with};
use crate::receivers::TargetServer;

async fn run(app: &TestApp) -> runner::RunOutcome {
    runner::run_once(&app.state, app.clock.now()).await.unwrap()
}

async fn step(app: &TestApp, secs: i64) -> runner::RunOutcome {
    app.clock.advance(Duration::seconds(secs));
    run(app).await
}

async fn check(app: &TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/checks", &app.admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn get_check(app: &TestApp, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/checks/{id}"), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn ticket_events(app: &TestApp, ticket: i64) -> Vec<String> {
    let r = app.get(&format!("/api/v1/tickets/{ticket}/events"), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

async fn check_tickets(app: &TestApp) -> Vec<Value> {
    let r = app.get("/api/v1/tickets?source=check&status=open,in_progress,resolved", &app.admin).await;
    if r.status == 200 {
        return r.body["items"].as_array().cloned().unwrap_or_default();
    }
    let r = app.get("/api/v1/tickets", &app.admin).await;
    r.body["items"].as_array().unwrap().iter().filter(|t| t["source"] == "check").cloned().collect()
}

#[tokio::test]
async fn an_outage_opens_one_ticket_and_recovery_resolves_it() {
    let app = spawn().await;
    let target = TargetServer::start().await;
    let cust = app.customer("Acme", "vip").await;
    target.answer(500, "oops");
    let c = check(
        &app,
        json!({"name": "acme-portal", "kind": "http", "url": target.url("/state"), "interval": "30s",
               "conditions": ["[STATUS] == 200", "[BODY].status == UP"], "customer_id": cust, "level": "II",
               "failure_threshold": 2, "success_threshold": 2, "auto_resolve": true, "tags": ["web"]}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();

    // One failure is below the threshold: nothing opens.
    assert_eq!(run(&app).await.ran, 1);
    let v = get_check(&app, id).await;
    assert_eq!((v["health"].as_str(), v["consecutive_failures"].as_u64()), (Some("unknown"), Some(1)));
    assert_eq!(v["last_result"]["failed_condition"], "[STATUS] == 200");
    assert_eq!(v["last_result"]["observed"], "500");
    // Not due again before its interval.
    assert_eq!(run(&app).await.ran, 0);

    let o = step(&app, 30).await;
    assert_eq!((o.ran, o.opened), (1, 1));
    let v = get_check(&app, id).await;
    assert_eq!(v["health"], "down");
    let ticket = v["ticket_id"].as_i64().unwrap();
    let t = app.get(&format!("/api/v1/tickets/{ticket}"), &app.admin).await.body;
    assert_eq!((t["source"].as_str(), t["level"].as_str()), (Some("check"), Some("II")));
    assert!(t["title"].as_str().unwrap().contains("acme-portal"), "{t}");
    assert!(t["description"].as_str().unwrap().contains("[STATUS] == 200 (observed 500)"), "{t}");

    // Still failing: the same ticket hears about it; no second ticket.
    assert_eq!(step(&app, 30).await.opened, 0);
    assert!(ticket_events(&app, ticket).await.contains(&"check_failed".to_string()));
    assert_eq!(check_tickets(&app).await.len(), 1);

    // Recovery needs two good results (hysteresis), then resolves with auto_resolve.
    target.answer(200, r#"{"status":"UP"}"#);
    step(&app, 30).await;
    assert_eq!(get_check(&app, id).await["health"], "down");
    step(&app, 30).await;
    let v = get_check(&app, id).await;
    assert_eq!(v["health"], "up");
    assert!(v["ticket_id"].is_null());
    let t = app.get(&format!("/api/v1/tickets/{ticket}"), &app.admin).await.body;
    assert_eq!(t["status"], "resolved");
    assert_eq!(t["sla"]["resolution"]["state"], "auto_resolved", "{}", t["sla"]);
    let events = ticket_events(&app, ticket).await;
    assert!(events.contains(&"check_recovered".to_string()), "{events:?}");

    // The next outage is a new ticket.
    target.answer(503, "");
    step(&app, 30).await;
    step(&app, 30).await;
    let again = get_check(&app, id).await["ticket_id"].as_i64().unwrap();
    assert_ne!(again, ticket);
    assert_eq!(target.hits("/state"), 7, "one request per run");
}

#[tokio::test]
async fn a_failed_condition_is_recorded_with_the_observed_value() {
    let app = spawn().await;
    let c = check(
        &app,
        json!({"name": "disk", "kind": "host", "interval": "1m", "conditions": ["[DISK_FREE_PERCENT] > 101"]}),
    )
    .await;
    let r = app.post(&format!("/api/v1/checks/{}/run", c["id"]), &app.admin, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["outcome"], "down");
    assert_eq!(r.body["failed_condition"], "[DISK_FREE_PERCENT] > 101");
    let observed = r.body["observed"].as_str().unwrap();
    let pct: f64 = observed.split_whitespace().next().unwrap().parse().unwrap();
    assert!((0.0..=100.0).contains(&pct) && observed.contains("(/"), "{observed}");
    let results = app.get(&format!("/api/v1/checks/{}/results", c["id"]), &app.admin).await;
    assert_eq!(results.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_checks_are_refused_with_the_field_and_nothing_is_written() {
    let app = spawn().await;
    let cases = [
        (
            json!({"name": "a", "kind": "http", "url": "http://x/", "interval": "1m", "conditions": ["[STATUS]==200"]}),
            "conditions[0]",
        ),
        (
            json!({"name": "a", "kind": "http", "url": "http://x/", "interval": "1m", "conditions": ["[NOPE] == 1"]}),
            "conditions[0]",
        ),
        (json!({"name": "a", "kind": "http", "url": "ftp://x/", "interval": "1m"}), "url"),
        (json!({"name": "a", "kind": "tcp", "host": "127.0.0.1", "interval": "1m"}), "port"),
        (json!({"name": "a", "kind": "http", "url": "http://x/"}), "interval"),
        (json!({"name": "a", "kind": "http", "url": "http://x/", "interval": "1m", "level": "V"}), "level"),
        (json!({"name": "A b", "kind": "host", "interval": "1m"}), "name"),
        (json!({"name": "a", "kind": "host", "interval": "1m", "customer_id": 999_999}), "customer_id"),
        (
            json!({"name": "a", "kind": "host", "interval": "1m",
                "maintenance": [{"start": "25:00", "duration": "1h"}]}),
            "maintenance[0].start",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/checks", &app.admin, body.clone()).await;
        assert_eq!(r.status, 422, "{body} → {}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{}", r.body);
    }
    let r = app.post("/api/v1/checks", &app.admin, json!({"name": "a", "kind": "ping", "interval": "1m"})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.get("/api/v1/checks", &app.admin).await.body.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn tcp_checks_see_a_closed_port_and_an_open_one() {
    let app = spawn().await;
    // Held for the test: bound, not listening, so connections are refused.
    let closed = crate::receivers::ReservedPort::new();
    let closed_port = closed.port;
    let open = TargetServer::start().await;
    let a = check(
        &app,
        json!({"name": "closed", "kind": "tcp", "host": "127.0.0.1", "port": closed_port, "interval": "1m",
        "conditions": ["[CONNECTED] == true"]}),
    )
    .await;
    let b = check(
        &app,
        json!({"name": "open", "kind": "tcp", "host": "127.0.0.1", "port": open.port, "interval": "1m",
        "send": "GET /state HTTP/1.0\r\n\r\n", "expect": "UP"}),
    )
    .await;
    let ra = app.post(&format!("/api/v1/checks/{}/run", a["id"]), &app.admin, json!({})).await.body;
    let rb = app.post(&format!("/api/v1/checks/{}/run", b["id"]), &app.admin, json!({})).await.body;
    assert_eq!((ra["outcome"].as_str(), ra["observed"].as_str()), (Some("down"), Some("false")), "{ra}");
    assert!(ra["error"].as_str().unwrap().contains("could not connect"), "{ra}");
    assert_eq!(rb["outcome"], "up", "{rb}");
}

#[tokio::test]
async fn maintenance_opens_nothing_and_a_missing_heartbeat_does() {
    let app = spawn().await;
    let cust = app.customer("Acme", "vip").await;
    let target = TargetServer::start().await;
    target.answer(500, "");
    // The manual clock starts 2026-10-20 10:00 +08:00: a window 09:00–12:00 every day is open.
    let m = check(
        &app,
        json!({"name": "in-maintenance", "kind": "http", "url": target.url("/state"), "interval": "10s",
        "customer_id": cust, "failure_threshold": 1,
        "maintenance": [{"start": "09:00", "duration": "3h", "timezone": "Asia/Shanghai"}]}),
    )
    .await;
    let h = check(
        &app,
        json!({"name": "nightly-backup", "kind": "heartbeat", "interval": "1m", "customer_id": cust,
        "failure_threshold": 1, "success_threshold": 1, "auto_resolve": true}),
    )
    .await;
    let token = h["heartbeat_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hb_"));
    // The token is shown once: reading the check does not show it.
    assert!(get_check(&app, h["id"].as_i64().unwrap()).await.get("heartbeat_token").is_none());

    let r = app.call(Method::POST, &format!("/api/v1/heartbeats/{token}"), None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    run(&app).await;
    assert_eq!(get_check(&app, h["id"].as_i64().unwrap()).await["health"], "up");
    let m_view = get_check(&app, m["id"].as_i64().unwrap()).await;
    assert_eq!(m_view["health"], "down");
    assert!(m_view["ticket_id"].is_null(), "a maintenance window opens nothing");

    // Silence past the interval: down, a ticket.
    step(&app, 61).await;
    let hv = get_check(&app, h["id"].as_i64().unwrap()).await;
    assert_eq!(hv["health"], "down", "{hv}");
    assert_eq!(hv["last_result"]["observed"].as_str().unwrap(), "silent for 61s");
    let ticket = hv["ticket_id"].as_i64().unwrap();
    // A beat again recovers it and resolves the ticket.
    app.call(Method::POST, &format!("/api/v1/heartbeats/{token}"), None, None).await;
    run(&app).await;
    assert_eq!(get_check(&app, h["id"].as_i64().unwrap()).await["health"], "up");
    assert_eq!(app.get(&format!("/api/v1/tickets/{ticket}"), &app.admin).await.body["status"], "resolved");
    assert_eq!(app.call(Method::POST, "/api/v1/heartbeats/hb_nope", None, None).await.status, 404);
}

#[tokio::test]
async fn flapping_is_told_once_on_the_outage_ticket() {
    let app =
        spawn_with(Options { env: vec![("OPSLINE_CHECKS__FLAP_FLIPS".into(), "2".into())], ..Default::default() })
            .await;
    let cust = app.customer("Acme", "vip").await;
    let target = TargetServer::start().await;
    let c = check(
        &app,
        json!({"name": "wobbly", "kind": "http", "url": target.url("/state"), "interval": "10s",
        "customer_id": cust, "failure_threshold": 1, "success_threshold": 1}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    run(&app).await;
    for (status, _) in [(500, 0), (200, 0), (500, 0), (200, 0), (500, 0)] {
        target.answer(status, "");
        step(&app, 10).await;
    }
    let v = get_check(&app, id).await;
    assert_eq!(v["flapping"], true, "{v}");
    let ticket = v["ticket_id"].as_i64().unwrap();
    let events = ticket_events(&app, ticket).await;
    assert_eq!(events.iter().filter(|a| *a == "check_flapping").count(), 1, "{events:?}");
    // Through the flapping, one ticket took every flip.
    assert!(events.contains(&"check_recovered".to_string()) && events.contains(&"check_failed".to_string()));
    assert_eq!(check_tickets(&app).await.len(), 2, "one before the flapping began, one since");
}

#[tokio::test]
async fn when_every_canary_fails_results_are_unknown_and_nothing_opens() {
    // Held for the test: bound, not listening, so connections are refused.
    let closed = crate::receivers::ReservedPort::new();
    let port = closed.port;
    let overlay = format!(
        "[checks.uplink]\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\ninterval = \"10s\"\n\n[gating]\ncanaries = [\"uplink\"]\n"
    );
    let app = spawn_with(Options { overlay: Some(overlay), ..Default::default() }).await;
    let cust = app.customer("Acme", "vip").await;
    let target = TargetServer::start().await;
    target.answer(500, "");
    let c = check(
        &app,
        json!({"name": "portal", "kind": "http", "url": target.url("/state"), "interval": "10s",
        "customer_id": cust, "failure_threshold": 1}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    // The canary fails first (checks run in name order within the batch is not guaranteed, so
    // run the canary alone once).
    let uplink = app
        .get("/api/v1/checks", &app.admin)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "uplink")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/v1/checks/{uplink}/run"), &app.admin, json!({})).await;
    step(&app, 10).await;
    let v = get_check(&app, id).await;
    assert_eq!(v["last_result"]["outcome"], "unknown", "{v}");
    assert!(v["last_result"]["error"].as_str().unwrap().contains("canary"));
    assert!(v["ticket_id"].is_null());
    assert_eq!(check_tickets(&app).await.len(), 0);

    // Config checks are read-only through the API.
    let r = app
        .call(Method::PATCH, &format!("/api/v1/checks/{uplink}"), Some(&app.admin), Some(json!({"interval": "1m"})))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "config_managed"));
    let r = app.call(Method::DELETE, &format!("/api/v1/checks/{uplink}"), Some(&app.admin), None).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "config_managed"));
}

pub(crate) async fn finished(app: &TestApp, id: i64) -> Value {
    eventually(&format!("inspection {id} to finish"), std::time::Duration::from_secs(10), || async {
        let v = app.get(&format!("/api/v1/inspections/{id}"), &app.admin).await.body;
        (v["status"] != "running").then_some(v)
    })
    .await
}

#[tokio::test]
async fn an_inspection_runs_with_bounded_concurrency_reports_and_diffs() {
    let app = spawn_with(Options {
        env: vec![("OPSLINE_INSPECTIONS__CONCURRENCY".into(), "2".into())],
        ..Default::default()
    })
    .await;
    let target = TargetServer::start().await;
    target.answer(500, "");
    for i in 0..5 {
        check(&app, json!({"name": format!("slow-{i}"), "kind": "http", "url": target.url("/slow"), "interval": "1h", "tags": ["batch"]})).await;
    }
    check(
        &app,
        json!({"name": "state", "kind": "http", "url": target.url("/state"), "interval": "1h", "tags": ["batch"]}),
    )
    .await;
    check(&app, json!({"name": "elsewhere", "kind": "host", "interval": "1h", "tags": ["other"]})).await;

    let r = app.post("/api/v1/inspections", &app.admin, json!({"tags": ["batch"]})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["total"].as_i64()), (Some("running"), Some(6)));
    let id = r.body["id"].as_i64().unwrap();
    let again = app.post("/api/v1/inspections", &app.admin, json!({})).await;
    assert_eq!(again.body["id"].as_i64(), Some(id), "a second request returns the running one");
    let v = finished(&app, id).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(v["done"], 6);
    assert_eq!(target.max_in_flight(), 2, "at most inspections.concurrency probes at once");
    let state = v["results"].as_array().unwrap().iter().find(|i| i["name"] == "state").unwrap().clone();
    assert_eq!((state["status"].as_str(), state["observed"].as_str()), (Some("down"), Some("500")));

    let md = app
        .client
        .get(format!("{}/api/v1/inspections/{id}?format=markdown", app.address))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert!(md.headers()["content-type"].to_str().unwrap().starts_with("text/markdown"));
    let md = md.text().await.unwrap();
    assert!(md.contains("| state | http | down |") && md.contains("failed: 5 up, 1 down"), "{md}");
    let html = app.text(&format!("/api/v1/inspections/{id}?format=html"), &app.admin).await;
    assert!(html.contains("<table>") && html.contains("<tr class=\"down\"><td>state</td>"), "{html}");
    assert_eq!(app.get(&format!("/api/v1/inspections/{id}?format=pdf"), &app.admin).await.status, 422);

    // Fixed: the next inspection passes and says what recovered.
    target.answer(200, "ok");
    let r = app.post("/api/v1/inspections", &app.admin, json!({"tags": ["batch"]})).await;
    let v = finished(&app, r.body["id"].as_i64().unwrap()).await;
    assert_eq!(v["status"], "passed");
    assert_eq!(v["diff"]["recovered"], json!(["state"]));
    assert_eq!(v["diff"]["previous_id"].as_i64(), Some(id));
    let r = app.post("/api/v1/inspections", &app.admin, json!({"checks": ["nope"]})).await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn a_postgres_check_connects_to_the_real_server_and_never_shows_its_url() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL is not set: the postgres check runs in the PostgreSQL pass");
        return;
    };
    let app = spawn().await;
    let good = check(&app, json!({"name": "pg", "kind": "postgres", "url": url, "interval": "1m"})).await;
    // The user part and the query are write-only; the host and database are not secrets.
    let shown = good["spec"]["url"].as_str().unwrap();
    assert!(shown.starts_with("postgres://***") && shown.ends_with("@127.0.0.1:5432/postgres"), "{shown}");
    let r = app.post(&format!("/api/v1/checks/{}/run", good["id"]), &app.admin, json!({})).await;
    assert_eq!(r.body["outcome"], "up", "{}", r.body);
    // Held for the test: bound, not listening, so connections are refused.
    let closed = crate::receivers::ReservedPort::new();
    let port = closed.port;
    let secret_url = format!("postgres://opsline:hunter2secret@127.0.0.1:{port}/x");
    let bad = check(
        &app,
        json!({"name": "pg-down", "kind": "postgres", "url": secret_url, "interval": "1m", "timeout_ms": 2000}),
    )
    .await;
    let r = app.post(&format!("/api/v1/checks/{}/run", bad["id"]), &app.admin, json!({})).await;
    assert_eq!(r.body["outcome"], "down", "{}", r.body);
    assert!(!r.body.to_string().contains("hunter2secret"), "{}", r.body);
}

#[tokio::test]
async fn two_instances_on_one_postgresql_probe_each_target_once_per_interval() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        eprintln!("TEST_DATABASE_URL is not set: two instances need PostgreSQL");
        return;
    }
    let a = spawn().await;
    let b = spawn_with(Options { db_url: Some(a.db.url.clone()), ..Default::default() }).await;
    let target = TargetServer::start().await;
    for i in 0..20 {
        check(
            &a,
            json!({"name": format!("t-{i}"), "kind": "http", "url": target.url(&format!("/t{i}")), "interval": "30s"}),
        )
        .await;
    }
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(run(&a), run(&b));
        assert_eq!(ra.ran + rb.ran, 20);
        a.clock.advance(Duration::seconds(30));
        b.clock.advance(Duration::seconds(30));
    }
    for i in 0..20 {
        assert_eq!(target.hits(&format!("/t{i}")), 3, "target {i}");
    }
}

#[tokio::test]
async fn retention_deletes_old_results_in_batches_and_keeps_rollups() {
    let app =
        spawn_with(Options { env: vec![("OPSLINE_RETENTION__BATCH".into(), "2".into())], ..Default::default() }).await;
    let c = check(&app, json!({"name": "disk", "kind": "host", "interval": "1h"})).await;
    for _ in 0..5 {
        app.post(&format!("/api/v1/checks/{}/run", c["id"]), &app.admin, json!({})).await;
        app.clock.advance(Duration::days(1));
    }
    app.clock.advance(Duration::days(4));
    // Results older than 7 days: the first two runs (days 0 and 1 of 9).
    let p = opsline::services::checks::rollup::purge(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(p.check_results, 2);
    let left = app.get(&format!("/api/v1/checks/{}/results?limit=10", c["id"]), &app.admin).await.body;
    assert_eq!(left.as_array().unwrap().len(), 3);
    let p = opsline::services::checks::rollup::purge(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(p.check_results, 0, "nothing twice");
    assert_eq!(p.rollups, 0, "minute rollups are kept 30 days");
}

/// A TLS server with a certificate valid until `not_after`, generated here; it greets and closes.
pub(crate) async fn tls_server(not_after: (i32, u8, u8)) -> u16 {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params.self_signed(&key).unwrap();
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], der)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    use tokio::io::AsyncWriteExt;
                    let _ = tls.write_all(b"220 hello\r\n").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_certificate_expiring_in_two_days_fails_a_72_hour_condition() {
    // The manual clock reads 2026-10-20 02:00 UTC; the certificate ends 2026-10-22 00:00 UTC.
    let app = spawn().await;
    let port = tls_server((2026, 10, 22)).await;
    let c = check(
        &app,
        json!({"name": "cert", "kind": "tls", "host": "localhost", "port": port, "interval": "1h",
        "conditions": ["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 72h"], "expect": "hello"}),
    )
    .await;
    let r = app.post(&format!("/api/v1/checks/{}/run", c["id"]), &app.admin, json!({})).await.body;
    assert_eq!(r["outcome"], "down", "{r}");
    assert_eq!(
        (r["failed_condition"].as_str(), r["observed"].as_str()),
        (Some("[CERTIFICATE_EXPIRATION] > 72h"), Some("46h"))
    );
    assert!(r["error"].is_null(), "the handshake and the greeting worked: {r}");
    let ok = check(
        &app,
        json!({"name": "cert-ok", "kind": "tls", "host": "localhost", "port": port, "interval": "1h",
        "conditions": ["[CERTIFICATE_EXPIRATION] > 24h"]}),
    )
    .await;
    let r = app.post(&format!("/api/v1/checks/{}/run", ok["id"]), &app.admin, json!({})).await.body;
    assert_eq!(r["outcome"], "up", "{r}");
}

/// A loopback DNS server: `app.acme.test` A 10.0.0.7, every other name NXDOMAIN.
async fn dns_server() -> std::net::SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let q = &buf[..n];
            let mut pos = 12;
            let mut labels = Vec::new();
            while q[pos] != 0 {
                let l = q[pos] as usize;
                labels.push(String::from_utf8_lossy(&q[pos + 1..pos + 1 + l]).into_owned());
                pos += 1 + l;
            }
            let end = pos + 5;
            let mut answer = q[..end].to_vec();
            answer[2] = 0x81;
            if labels.join(".") == "app.acme.test" {
                answer[3] = 0x80;
                answer[7] = 1;
                answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 7]);
            } else {
                answer[3] = 0x83;
            }
            let _ = sock.send_to(&answer, peer).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns_checks_ask_the_given_server() {
    let app = spawn().await;
    let server = dns_server().await.to_string();
    let good = check(
        &app,
        json!({"name": "dns-app", "kind": "dns", "query_name": "app.acme.test", "server": server,
        "interval": "1m", "conditions": ["[DNS_RCODE] == NOERROR", "[BODY] == 10.0.0.7"]}),
    )
    .await;
    let missing = check(
        &app,
        json!({"name": "dns-gone", "kind": "dns", "query_name": "gone.acme.test", "server": server,
        "interval": "1m", "conditions": ["[DNS_RCODE] == NOERROR"]}),
    )
    .await;
    let r = app.post(&format!("/api/v1/checks/{}/run", good["id"]), &app.admin, json!({})).await.body;
    assert_eq!(r["outcome"], "up", "{r}");
    let r = app.post(&format!("/api/v1/checks/{}/run", missing["id"]), &app.admin, json!({})).await.body;
    assert_eq!((r["outcome"].as_str(), r["observed"].as_str()), (Some("down"), Some("NXDOMAIN")), "{r}");
}

#[tokio::test]
async fn opsline_inspect_prints_the_report_and_exits_by_the_verdict() {
    let app = spawn().await;
    let target = TargetServer::start().await;
    target.answer(500, "");
    check(&app, json!({"name": "web", "kind": "http", "url": target.url("/state"), "interval": "1h", "tags": ["cli"]}))
        .await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_opsline"))
            .args(["inspect", "--tag", "cli"])
            .env("OPSLINE_ENVIRONMENT", "test")
            .env("OPSLINE_CONFIG_DIR", crate::helpers::config_dir())
            .env("OPSLINE_DATABASE__URL", &app.db.url)
            .env("OPSLINE_LOG", "error")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| web | http | down |"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1/1 checks done"));
    target.answer(200, "");
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("recovered: web"));
}

#[tokio::test]
async fn a_cron_check_runs_once_per_scheduled_instant_whoever_fires_it() {
    let app = spawn().await;
    let target = TargetServer::start().await;
    let c = check(&app, json!({"name": "nightly", "kind": "http", "url": target.url("/state"), "cron": "0 0 2 * * *"}))
        .await;
    let id = c["id"].as_i64().unwrap();
    assert!(c["next_run_at"].is_null(), "the interval runner leaves it to the scheduler");
    assert_eq!(run(&app).await.ran, 0);
    let fire = app.clock.now();
    // Every instance's scheduler fires; one runs it.
    assert!(runner::run_scheduled(&app.state, id, fire).await.unwrap());
    assert!(!runner::run_scheduled(&app.state, id, fire).await.unwrap());
    assert_eq!(target.hits("/state"), 1);
    assert!(runner::run_scheduled(&app.state, id, fire + Duration::days(1)).await.unwrap());
    assert_eq!(target.hits("/state"), 2);
    let bad = app
        .post("/api/v1/checks", &app.admin, json!({"name": "bad-cron", "kind": "host", "cron": "0 0 25 * * *"}))
        .await;
    assert_eq!((bad.status.as_u16(), bad.body["error"]["field"].as_str()), (422, Some("cron")), "{}", bad.body);
}

#[tokio::test]
async fn a_scheduled_inspection_starts_once_per_turn_whoever_fires_it() {
    let app = spawn_with(Options {
        env: vec![
            ("OPSLINE_INSPECTIONS__SCHEDULE".into(), "0 30 0 * * *".into()),
            ("OPSLINE_INSPECTIONS__SCHEDULE_TAGS".into(), "[\"nightly\"]".into()),
        ],
        ..Default::default()
    })
    .await;
    check(&app, json!({"name": "disk", "kind": "host", "interval": "1h", "tags": ["nightly"]})).await;
    check(&app, json!({"name": "other", "kind": "host", "interval": "1h"})).await;
    let fire = app.clock.now();
    let first = opsline::services::checks::inspections::start_scheduled(&app.state, fire).await.unwrap();
    let id = first.expect("the first instance starts it");
    assert_eq!(opsline::services::checks::inspections::start_scheduled(&app.state, fire).await.unwrap(), None);
    let v = finished(&app, id).await;
    assert_eq!((v["total"].as_i64(), v["requested_by"].as_str()), (Some(1), Some("schedule")));
    assert_eq!(v["results"][0]["name"], "disk");
}

#[tokio::test]
async fn a_target_slower_than_the_timeout_fails_with_a_timeout() {
    let app = spawn().await;
    let target = TargetServer::start().await;
    let c = check(
        &app,
        json!({"name": "slow", "kind": "http", "url": target.url("/slow"), "interval": "1m", "timeout_ms": 50}),
    )
    .await;
    let r = app.post(&format!("/api/v1/checks/{}/run", c["id"]), &app.admin, json!({})).await.body;
    assert_eq!(r["outcome"], "down", "{r}");
    assert!(r["error"].as_str().unwrap().starts_with("timed out"), "{r}");
    let bad = app
        .post("/api/v1/checks", &app.admin, json!({"name": "x", "kind": "host", "interval": "1m", "timeout_ms": 0}))
        .await;
    assert_eq!((bad.status.as_u16(), bad.body["error"]["field"].as_str()), (422, Some("timeout_ms")));
}

#[tokio::test]
async fn the_background_runner_probes_due_checks_once_per_interval() {
    let app =
        spawn_with(Options { env: vec![("OPSLINE_WORKERS__ENABLED".into(), "true".into())], ..Default::default() })
            .await;
    let target = TargetServer::start().await;
    let c = check(&app, json!({"name": "bg", "kind": "http", "url": target.url("/state"), "interval": "30s"})).await;
    let id = c["id"].as_i64().unwrap();
    // The loop runs on its own; wait (bounded) for it, without moving time.
    let five = std::time::Duration::from_secs(5);
    eventually("the loop to run the check", five, || async {
        (get_check(&app, id).await["health"] == "up").then_some(())
    })
    .await;
    assert_eq!(target.hits("/state"), 1, "not due again until the clock moves");
    app.clock.advance(Duration::seconds(30));
    app.state.wake_checks.notify_one();
    eventually("the loop to run it again", five, || async { (target.hits("/state") >= 2).then_some(()) }).await;
    assert_eq!(target.hits("/state"), 2);
}

#[tokio::test]
async fn denied_networks_are_refused_and_failing_checks_retry_sooner() {
    let app = spawn().await;
    let meta = check(
        &app,
        json!({"name": "metadata", "kind": "http", "url": "http://169.254.169.254/latest/", "interval": "1m"}),
    )
    .await;
    let r = app.post(&format!("/api/v1/checks/{}/run", meta["id"]), &app.admin, json!({})).await.body;
    assert_eq!(r["outcome"], "down");
    assert!(r["error"].as_str().unwrap().contains("checks.denied_networks"), "{r}");

    let target = TargetServer::start().await;
    target.answer(500, "");
    let c = check(
        &app,
        json!({"name": "retrying", "kind": "http", "url": target.url("/state"), "interval": "5m",
        "retry_interval": "10s"}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    run(&app).await;
    let next =
        get_check(&app, id).await["next_run_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(next, app.clock.now() + Duration::seconds(10), "failing: every retry_interval");
    assert_eq!(step(&app, 10).await.ran, 1);
    target.answer(200, "");
    step(&app, 10).await;
    let next =
        get_check(&app, id).await["next_run_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert!(next > app.clock.now() + Duration::seconds(10), "passing again: back to the interval ({next})");
}

#[tokio::test]
async fn a_config_check_names_its_customer_by_key() {
    // Held for the test: bound, not listening, so connections are refused.
    let closed = crate::receivers::ReservedPort::new();
    let port = closed.port;
    let overlay = format!(
        "[checks.acme-db]\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\ninterval = \"1m\"\ncustomer = \"acme-bank\"\nlevel = \"I\"\nfailure_threshold = 1\n"
    );
    let app = spawn_with(Options { overlay: Some(overlay), ..Default::default() }).await;
    let cust = app.customer("ACME Bank", "vip").await;
    let o = run(&app).await;
    assert_eq!((o.ran, o.opened), (1, 1));
    let t = &check_tickets(&app).await[0];
    assert_eq!((t["customer"]["id"].as_i64(), t["level"].as_str()), (Some(cust), Some("I")), "{t}");
}
