//! The SLA engine through the API: pauses over holidays, level changes that breach at once,
//! explanations, what-if, reports, calendar changes and configuration agreement.

use opsline::domain::ticket::Change;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, at, spawn, spawn_with};

fn due(t: &Value, timer: &str) -> chrono::DateTime<chrono::Utc> {
    at(t["sla"][timer]["due_at"].as_str().unwrap_or_else(|| panic!("{timer} has no due_at: {t}")))
}

#[tokio::test]
async fn a_pause_of_three_working_hours_over_a_night_and_a_holiday_moves_the_deadline_by_exactly_that() {
    // Business calendar with the 2026 holidays. Level III opened Wed 09-30 10:00: resolution 3d →
    // Sat 10-10 10:00 (Oct 1–7 are holidays, Sat 10-10 is a make-up day).
    let app = spawn_with(Options { now: Some(at("2026-09-30T10:00:00+08:00")), ..Default::default() }).await;
    let c = app.customer("ACME", "standard").await;
    let t = app
        .post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "errors", "level": "III"}))
        .await
        .body;
    let id = t["id"].as_i64().unwrap();
    assert_eq!(due(&t, "resolution"), at("2026-10-10T10:00:00+08:00"));
    assert_eq!(app.act(id, "respond", &app.admin, json!({"message": "m"})).await.status, 200);
    app.clock.set(at("2026-09-30T15:00:00+08:00"));
    let paused = app.act(id, "wait-customer", &app.admin, json!({"reason": "need logs"})).await.body;
    let remaining = paused["sla"]["resolution"]["remaining_working_secs"].as_i64().unwrap();
    // Wed 15–18 (3h) + Thu 10-08 and Fri 10-09 (8h each) + Sat 09–10 (1h).
    assert_eq!(remaining, 20 * 3600);
    // Paused from Wed 15:00 over the night and the whole National Day holiday to Thu 10-08 09:00:
    // three working hours (Wed 15:00–18:00).
    app.clock.set(at("2026-10-08T09:00:00+08:00"));
    let resumed = app.act(id, "resume", &app.admin, json!({})).await.body;
    let new_due = due(&resumed, "resolution");
    assert_eq!(new_due, at("2026-10-10T14:00:00+08:00"));
    assert_eq!(resumed["sla"]["resolution"]["remaining_working_secs"].as_i64(), Some(remaining));
    let steps = resumed["sla"]["resolution"]["explain"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["type"] == "pause"), "{steps:?}");
}

#[tokio::test]
async fn upgrading_forty_working_minutes_after_opening_breaches_the_thirty_minute_plan_at_once() {
    let app = spawn().await; // Tue 2026-10-20 10:00 +08:00
    let c = app.customer("ACME", "standard").await;
    let t = app
        .post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "slow reports", "level": "II"}))
        .await
        .body;
    let id = t["id"].as_i64().unwrap();
    assert_eq!(due(&t, "plan"), at("2026-10-20T11:00:00+08:00"));
    app.clock.set(at("2026-10-20T10:05:00+08:00"));
    assert_eq!(app.act(id, "respond", &app.admin, json!({"message": "looking"})).await.status, 200);
    app.clock.set(at("2026-10-20T10:40:00+08:00"));
    let r = app.act(id, "level", &app.admin, json!({"level": "I", "reason": "now a full outage"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let plan = &r.body["sla"]["plan"];
    assert_eq!((plan["state"].as_str(), plan["breached"].as_bool()), (Some("breached"), Some(true)));
    assert_eq!(plan["target"], "30m");
    assert_eq!(due(&r.body, "plan"), at("2026-10-20T10:30:00+08:00"));
    assert_eq!(r.body["sla"]["response"]["state"], "met");
    // A breach is permanent: changing back does not clear it.
    let back = app.act(id, "level", &app.admin, json!({"level": "II", "reason": "contained"})).await.body;
    assert_eq!(back["sla"]["plan"]["state"], "breached");
    app.clock.set(at("2026-10-20T10:50:00+08:00"));
    let planned = app.act(id, "plan", &app.admin, json!({"plan": "p"})).await.body;
    assert_eq!(
        (planned["sla"]["plan"]["state"].as_str(), planned["sla"]["plan"]["breached"].as_bool()),
        (Some("met"), Some(true))
    );
}

#[tokio::test]
async fn explain_steps_add_up_and_flag_deadlines_beyond_the_known_holidays() {
    let app = spawn_with(Options { now: Some(at("2026-12-31T17:00:00+08:00")), ..Default::default() }).await;
    let c = app.customer("ACME", "standard").await;
    let t = app
        .post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "how to install", "level": "IV"}))
        .await
        .body;
    let sla = app.get(&format!("/api/v1/tickets/{}/sla", t["id"]), &app.admin).await.body;
    let response = sla.as_array().unwrap().iter().find(|t| t["kind"] == "response").unwrap().clone();
    let counted: i64 =
        response["explain"]["steps"].as_array().unwrap().iter().filter_map(|s| s["counted_secs"].as_i64()).sum();
    assert_eq!(counted, 600);
    assert_eq!(response["explain"]["calendar"], "business");
    assert_eq!(response["explain"]["timezone"], "Asia/Shanghai");
    let resolution = sla.as_array().unwrap().iter().find(|t| t["kind"] == "resolution").unwrap().clone();
    assert_eq!(resolution["explain"]["holidays_unknown_after"], "2026-12-31");
}

#[tokio::test]
async fn calendars_list_their_next_working_intervals() {
    let app = spawn().await; // Tue 2026-10-20 10:00 +08:00
    let r = app.get("/api/v1/calendars", &app.admin).await;
    let business = r.body.as_array().unwrap().iter().find(|c| c["name"] == "business").unwrap().clone();
    assert_eq!(
        business["next_working_intervals"][0],
        json!({"from": "2026-10-20T02:00:00Z", "to": "2026-10-20T04:00:00Z"})
    );
    assert_eq!(
        business["next_working_intervals"][1],
        json!({"from": "2026-10-20T05:00:00Z", "to": "2026-10-20T10:00:00Z"})
    );
    assert_eq!(business["holidays_known_until"], "2026-12-31");
    let always = r.body.as_array().unwrap().iter().find(|c| c["name"] == "24x7").unwrap().clone();
    assert_eq!(always["always"], true);
}

#[tokio::test]
async fn what_if_counts_moved_and_newly_breached_timers_and_changes_nothing() {
    let app = spawn().await; // Tue 2026-10-20 10:00 +08:00
    let c = app.customer("ACME", "standard").await;
    for _ in 0..3 {
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "x", "level": "III"})).await;
    }
    app.clock.set(at("2026-10-20T10:08:00+08:00"));
    let before = app.get("/api/v1/tickets", &app.admin).await.body;
    // A stricter policy: respond within 5 minutes, plan within an hour.
    let stricter = json!({"sla_policy": {"name": "standard",
        "I": {"response": "5m", "plan": "30m", "resolution": "end_of_day"},
        "II": {"response": "5m", "plan": "1h", "resolution": "1d"},
        "III": {"response": "5m", "plan": "1h", "resolution": "3d"},
        "IV": {"response": "5m", "plan": "2h", "resolution": "5d"}}});
    let r = app.post("/api/v1/sla/what-if", &app.admin, stricter).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["timers_considered"], 9);
    assert_eq!(r.body["earlier"], 6); // response and plan of each ticket
    assert_eq!(r.body["unchanged"], 3);
    assert_eq!(r.body["newly_breached"], 3); // 5 minutes have passed
    assert_eq!(r.body["most_affected"][0]["newly_breached"], true);
    // Wednesday a holiday: resolution (3d from Tue) moves a day later.
    let holiday = json!({"calendar": {"name": "business", "timezone": "Asia/Shanghai",
        "hours": {"mon": ["09:00-12:00", "13:00-18:00"], "tue": ["09:00-12:00", "13:00-18:00"], "wed": ["09:00-12:00", "13:00-18:00"],
                  "thu": ["09:00-12:00", "13:00-18:00"], "fri": ["09:00-12:00", "13:00-18:00"]},
        "exceptions": {"holidays": ["2026-10-21"]}}});
    let r = app.post("/api/v1/sla/what-if", &app.admin, holiday).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["later"], 3);
    // Fri 10:00 → Mon 10:00: the holiday costs a working day, which here spans a weekend.
    assert_eq!(r.body["most_affected"][0]["delta_secs"], 3 * 86_400);
    let after = app.get("/api/v1/tickets", &app.admin).await.body;
    assert_eq!(before, after);
    let bad = app
        .post(
            "/api/v1/sla/what-if",
            &app.admin,
            json!({"sla_policy": {"name": "standard", "I": {"response": "0m", "plan": "1h", "resolution": "1d"}}}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(app.post("/api/v1/sla/what-if", &app.staff("engineer").await, json!({})).await.status, 403);
}

#[tokio::test]
async fn the_sla_report_counts_each_outcome_and_compliance_from_the_database() {
    let app = spawn().await; // Tue 2026-10-20 10:00 +08:00
    let c = app.customer("ACME", "vip").await;
    let open = |title: &'static str| {
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": title, "level": "I"}))
    };
    let a = open("a").await.body["id"].as_i64().unwrap();
    let b = open("b").await.body["id"].as_i64().unwrap();
    let d = open("d").await.body["id"].as_i64().unwrap();
    let _running = open("e").await.body["id"].as_i64().unwrap();
    app.clock.set(at("2026-10-20T10:05:00+08:00"));
    app.act(a, "respond", &app.admin, json!({"message": "m"})).await; // response in time
    app.clock.set(at("2026-10-20T10:20:00+08:00"));
    app.act(b, "respond", &app.admin, json!({"message": "m"})).await; // response late
    app.act(d, "cancel", &app.admin, json!({"reason": "dup"})).await; // response breached, plan/resolution cancelled
    let r = app.get("/api/v1/reports/sla", &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let row = |level: &str, timer: &str| {
        r.body["rows"].as_array().unwrap().iter().find(|x| x["level"] == level && x["timer"] == timer).unwrap().clone()
    };
    let resp = row("I", "response");
    assert_eq!(
        (resp["in_time"].as_u64(), resp["late"].as_u64(), resp["breached"].as_u64()),
        (Some(1), Some(1), Some(2))
    );
    assert_eq!(resp["compliance"].as_f64(), Some(0.25));
    let plan = row("I", "plan");
    assert_eq!(
        (plan["cancelled"].as_u64(), plan["open"].as_u64(), plan["compliance"].clone()),
        (Some(1), Some(3), Value::Null)
    );
    let other = app.customer("Other", "vip").await;
    let none = app.get(&format!("/api/v1/reports/sla?customer_id={other}"), &app.admin).await.body;
    assert_eq!(none["rows"][0]["breached"], 0);
    let later = app.get("/api/v1/reports/sla?from=2026-10-21T00:00:00Z", &app.admin).await.body;
    assert_eq!(later["rows"][0]["in_time"], 0);
    let bad = app.get("/api/v1/reports/sla?from=2026-10-21T00:00:00Z&to=2026-10-20T00:00:00Z", &app.admin).await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn a_contract_change_applies_to_new_timers_only() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let before =
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "x", "level": "I"})).await.body;
    let r = app
        .call(Method::PATCH, &format!("/api/v1/customers/{c}"), Some(&app.admin), Some(json!({"tier": "vip"})))
        .await;
    assert_eq!((r.body["calendar"].as_str(), r.body["tier"].as_str()), (Some("24x7"), Some("vip")));
    let after =
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "x", "level": "I"})).await.body;
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{}", before["id"]), &app.admin).await.body["sla"]["response"]["explain"]["calendar"],
        "business"
    );
    assert_eq!(after["sla"]["response"]["explain"]["calendar"], "24x7");
    assert_eq!(after["sla"]["resolution"]["due_at"], "2026-10-20T16:00:00Z");
}

#[tokio::test]
async fn a_calendar_change_recomputes_unmet_timers_logs_both_deadlines_and_never_clears_a_breach() {
    // Instance A starts with the shipped calendars and opens two tickets.
    let a = spawn_with(Options { now: Some(at("2026-09-30T17:00:00+08:00")), ..Default::default() }).await;
    let c = a.customer("ACME", "standard").await;
    let t1 = a.post("/api/v1/tickets", &a.admin, json!({"customer_id": c, "title": "x", "level": "III"})).await.body;
    assert_eq!(due(&t1, "resolution"), at("2026-10-10T17:00:00+08:00"));
    a.clock.set(at("2026-10-08T09:05:00+08:00"));
    let t2 = a.get(&format!("/api/v1/tickets/{}", t1["id"]), &a.admin).await.body;
    assert_eq!(t2["sla"]["response"]["state"], "breached"); // due Wed 09-30 17:10
    assert_eq!(a.call(Method::GET, "/health/ready", None, None).await.status, 200);
    // Instance B on the same database declares Wed 09-30 and Fri 10-09 holidays too.
    let b = spawn_with(Options {
        db_url: Some(a.db.url.clone()),
        overlay: Some("[calendars.business.exceptions]\nholidays = [\"2026-09-30\", \"2026-10-09\"]\n".into()),
        now: Some(at("2026-10-08T09:05:00+08:00")),
        ..Default::default()
    })
    .await;
    let t = b.get(&format!("/api/v1/tickets/{}", t1["id"]), &b.admin).await.body;
    // Counting now starts Thu 10-08 09:00: resolution (3d) → Sat 10-10, Mon 10-12, Tue 10-13 09:00;
    // plan (2h) → Thu 11:00.
    assert_eq!(due(&t, "resolution"), at("2026-10-13T09:00:00+08:00"));
    assert_eq!(due(&t, "plan"), at("2026-10-08T11:00:00+08:00"));
    // The response would now be due Thu 09:10, after "now" — but its breach stays.
    assert_eq!(t["sla"]["response"]["state"], "breached");
    assert_eq!(due(&t, "response"), at("2026-09-30T17:10:00+08:00"));
    let events = b.get(&format!("/api/v1/tickets/{}/events", t1["id"]), &b.admin).await.body;
    let recomputed: Vec<&Value> =
        events.as_array().unwrap().iter().filter(|e| e["action"] == "sla_recomputed").collect();
    let res = recomputed.iter().find(|e| e["new_value"]["timer"] == "resolution").expect("resolution recomputed");
    assert_eq!(res["old_value"]["due_at"], "2026-10-10T09:00:00Z");
    assert_eq!(res["new_value"]["due_at"], "2026-10-13T01:00:00Z");
    // A now runs an older configuration than the newest registered one.
    let ready = a.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!((ready.status.as_u16(), ready.code()), (503, "config_mismatch"));
    assert_eq!(b.call(Method::GET, "/health/ready", None, None).await.status, 200);
}

#[tokio::test]
async fn the_command_line_preview_prints_the_readme_hotline_example() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_opsline"))
        .args([
            "sla",
            "preview",
            "--calendar",
            "business",
            "--sla-policy",
            "standard",
            "--level",
            "I",
            "--opened-at",
            "2026-10-16T17:55:00+08:00",
        ])
        .env("OPSLINE_CONFIG_DIR", crate::helpers::config_dir())
        .env("OPSLINE_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["response"]["due_at"], "2026-10-19T01:05:00Z");
    assert_eq!(p["plan"]["due_at"], "2026-10-19T01:25:00Z");
    assert_eq!(p["resolution"]["due_at"], "2026-10-19T10:00:00Z");
}

#[tokio::test]
async fn preview_names_the_field_it_cannot_use() {
    let app = spawn().await;
    let cases = [
        (json!({"calendar": "business", "level": "I"}), "sla_policy"),
        (json!({"sla_policy": "standard", "level": "I"}), "calendar"),
        (json!({"calendar": "mars", "sla_policy": "standard", "level": "I"}), "calendar"),
        (json!({"customer_id": 1, "calendar": "business", "sla_policy": "standard", "level": "I"}), "customer_id"),
        (json!({"customer_id": 99, "level": "I"}), "customer_id"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/sla/preview", &app.admin, body.clone()).await;
        assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (422, Some(field)), "{body}");
    }
    let r = app
        .post(
            "/api/v1/sla/preview",
            &app.admin,
            json!({"calendar": "business", "sla_policy": "standard", "level": "I", "colour": 1}),
        )
        .await;
    assert!(r.status.is_client_error() && r.body["error"]["message"].as_str().unwrap().contains("colour"));
    let r = app
        .post(
            "/api/v1/sla/preview",
            &app.admin,
            json!({"calendar": "business", "sla_policy": "standard", "level": "I", "opened_at": "soon"}),
        )
        .await;
    assert!(
        r.status.is_client_error() && r.body["error"]["message"].as_str().unwrap().contains("opened_at")
            || r.status == 422
    );
}

#[tokio::test]
async fn a_system_resolve_ends_unmet_timers_auto_resolved_and_keeps_breaches() {
    let app = spawn().await; // Tue 2026-10-20 10:00 +08:00
    let c = app.customer("VIP", "vip").await;
    let t = app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "x", "level": "I"})).await.body;
    let id = t["id"].as_i64().unwrap();
    app.clock.set(at("2026-10-20T10:20:00+08:00"));
    let resolve = |text: &str| Change::Resolve { resolution: text.into() };
    app.by_opsline(id, "check web-frontend", resolve("the check recovered")).await.unwrap();
    let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!(t["status"], "resolved");
    assert_eq!(t["sla"]["response"]["state"], "breached");
    assert_eq!(t["sla"]["plan"]["state"], "auto_resolved");
    assert_eq!(t["sla"]["resolution"]["state"], "auto_resolved");
    assert_eq!(t["sla"]["plan"]["met_at"], Value::Null);
    let report = app.get("/api/v1/reports/sla", &app.admin).await.body;
    let plan =
        report["rows"].as_array().unwrap().iter().find(|r| r["level"] == "I" && r["timer"] == "plan").unwrap().clone();
    assert_eq!((plan["auto_resolved"].as_u64(), plan["compliance"].clone()), (Some(1), Value::Null));
    let again = app.by_opsline(id, "check", resolve("again")).await;
    assert!(matches!(again, Err(opsline::services::Error::InvalidTransition { .. })), "{again:?}");
}
