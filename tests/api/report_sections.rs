//! A report's operations section: the customer's checks' uptime (day rollups of real runs), the
//! inspections that ran them, and the tickets unresolved at the period's end, read from the log
//! as it stood then — later changes do not move it.

use serde_json::json;

use crate::checks::finished;
use crate::helpers::{Options, TestApp, at, spawn_with};

async fn check(app: &TestApp, name: &str, customer: i64, condition: &str) -> i64 {
    let body =
        json!({"name": name, "kind": "host", "interval": "1h", "customer_id": customer, "conditions": [condition]});
    let r = app.post("/api/v1/checks", &app.admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

async fn run(app: &TestApp, id: i64) {
    let r = app.post(&format!("/api/v1/checks/{id}/run"), &app.admin, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn the_report_shows_check_uptime_inspections_and_the_backlog_at_the_periods_end() {
    let app = spawn_with(Options { now: Some(at("2026-11-17T10:00:00+08:00")), ..Default::default() }).await;
    let c = app.customer("华夏银行", "standard").await;
    let other = app.customer("Other", "standard").await;
    let disk = check(&app, "disk", c, "[DISK_FREE_PERCENT] >= 0").await;
    let full = check(&app, "disk-full", c, "[DISK_FREE_PERCENT] > 101").await;
    let theirs = check(&app, "their-disk", other, "[DISK_FREE_PERCENT] > 101").await;
    for id in [disk, disk, disk, full, theirs] {
        run(&app, id).await;
    }
    let r = app.post("/api/v1/inspections", &app.admin, json!({"checks": ["disk", "disk-full"]})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let inspection = finished(&app, r.body["id"].as_i64().unwrap()).await;

    // Tickets: one open, one waiting for the customer, one resolved — as the week ends.
    let open =
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "慢", "level": "II"})).await.body;
    let waiting = app
        .post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "等日志", "level": "III"}))
        .await
        .body;
    let done =
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "好了", "level": "IV"})).await.body;
    let app = &app;
    let act = |t: &serde_json::Value, action: &'static str, body: serde_json::Value| {
        let id = t["id"].as_i64().unwrap();
        async move { assert_eq!(app.act(id, action, &app.admin, body).await.status, 200, "{action}") }
    };
    act(&waiting, "respond", json!({"message": "m"})).await;
    act(&waiting, "wait-customer", json!({"reason": "日志"})).await;
    act(&done, "resolve", json!({"resolution": "r"})).await;
    // After the week: the open one is resolved; the report still shows it open at the end.
    app.clock.set(at("2026-11-23T10:00:00+08:00"));
    act(&open, "resolve", json!({"resolution": "r"})).await;

    let report = app
        .post(&format!("/api/v1/customers/{c}/reports"), &app.admin, json!({"period": "weekly", "from": "2026-11-16"}))
        .await;
    assert_eq!(report.status, 201, "{}", report.body);
    let o = &report.body["content"]["operations"];
    assert_eq!(o["backlog"], json!({"open": [0, 1, 1, 0], "waiting_customer": 1}), "{o}");
    let checks = o["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "the customer's checks only: {o}");
    assert_eq!(
        (checks[0]["name"].as_str(), checks[0]["passes"].as_u64(), checks[0]["uptime"].as_f64()),
        (Some("disk"), Some(4), Some(1.0))
    );
    assert_eq!(
        (checks[1]["name"].as_str(), checks[1]["failures"].as_u64(), checks[1]["uptime"].as_f64()),
        (Some("disk-full"), Some(2), Some(0.0))
    );
    assert_eq!(o["inspections_total"], 1);
    assert_eq!(o["inspections"][0]["id"], inspection["id"]);
    assert_eq!(
        (o["inspections"][0]["checked"].as_u64(), &o["inspections"][0]["down"]),
        (Some(2), &json!(["disk-full"]))
    );

    let html = app.text(&format!("/api/v1/reports/{}?format=html", report.body["id"]), &app.admin).await;
    assert!(html.contains("disk-full") && html.contains("100.00 %") && html.contains("期末未解决工单"), "{html}");
}
