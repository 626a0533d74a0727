//! Every dated example of docs/sla.md, held literally through the API with the manual clock: the
//! ticket is opened at the example's instant and its timers must be due exactly when the document
//! says.

use serde_json::{Value, json};

use crate::helpers::{Act, Options, TestApp, Ticket, at, spawn_with};

/// Calendars the examples name besides the shipped ones.
const CALENDARS: &str = r#"
[calendars.plain]
timezone = "Asia/Shanghai"
[calendars.plain.hours]
mon = ["09:00-12:00", "13:00-18:00"]
tue = ["09:00-12:00", "13:00-18:00"]
wed = ["09:00-12:00", "13:00-18:00"]
thu = ["09:00-12:00", "13:00-18:00"]
fri = ["09:00-12:00", "13:00-18:00"]

[calendars.saturday]
timezone = "Asia/Shanghai"
[calendars.saturday.hours]
mon = ["08:00-20:00"]
tue = ["08:00-20:00"]
wed = ["08:00-20:00"]
thu = ["08:00-20:00"]
fri = ["08:00-20:00"]
sat = ["10:00-14:00"]

[calendars.berlin]
timezone = "Europe/Berlin"
always = true

[calendars.night-desk]
timezone = "Asia/Shanghai"
[calendars.night-desk.hours]
mon = ["21:00-24:00"]
tue = ["00:00-05:00", "21:00-24:00"]
wed = ["00:00-05:00", "21:00-24:00"]
thu = ["00:00-05:00", "21:00-24:00"]
fri = ["00:00-05:00", "21:00-24:00"]
sat = ["00:00-05:00"]
"#;

async fn app() -> TestApp {
    spawn_with(Options { overlay: Some(CALENDARS.into()), ..Default::default() }).await
}

/// A customer on `calendar` with the standard policy.
async fn customer_on(app: &TestApp, calendar: &str) -> i64 {
    let r = app
        .post(
            "/api/v1/customers",
            &app.admin,
            json!({"name": format!("On {calendar}"), "tier": "standard", "calendar": calendar}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

/// Opens a ticket at `when` (the clock is set there first) and returns it.
async fn open_at(app: &TestApp, customer: i64, when: &str, level: &str) -> Value {
    app.clock.set(at(when));
    let r = app
        .post("/api/v1/tickets", &app.admin, json!({"customer_id": customer, "title": "example", "level": level}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn due(t: &Value, timer: &str) -> chrono::DateTime<chrono::Utc> {
    at(t["sla"][timer]["due_at"].as_str().unwrap_or_else(|| panic!("{timer} has no due_at: {t}")))
}

#[tokio::test]
async fn friday_1755_level_one_is_due_monday_0905_0925_and_1800() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = open_at(&app, c, "2026-10-16T17:55:00+08:00", "I").await;
    assert_eq!(due(&t, "response"), at("2026-10-19T01:05:00Z"));
    assert_eq!(due(&t, "plan"), at("2026-10-19T01:25:00Z"));
    assert_eq!(due(&t, "resolution"), at("2026-10-19T10:00:00Z"));
}

#[tokio::test]
async fn tuesday_1000_level_one_plan_is_due_1030_and_resolution_1800() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = open_at(&app, c, "2026-10-20T10:00:00+08:00", "I").await;
    assert_eq!(due(&t, "plan"), at("2026-10-20T10:30:00+08:00"));
    assert_eq!(due(&t, "resolution"), at("2026-10-20T18:00:00+08:00"));
}

#[tokio::test]
async fn tuesday_1740_level_one_is_due_1750_wednesday_0910_and_wednesday_1800() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = open_at(&app, c, "2026-10-20T17:40:00+08:00", "I").await;
    assert_eq!(due(&t, "response"), at("2026-10-20T17:50:00+08:00"));
    assert_eq!(due(&t, "plan"), at("2026-10-21T09:10:00+08:00"));
    assert_eq!(due(&t, "resolution"), at("2026-10-21T18:00:00+08:00"));
}

#[tokio::test]
async fn tuesday_1900_level_one_response_is_due_wednesday_0910_and_resolution_wednesday_1800() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = open_at(&app, c, "2026-10-20T19:00:00+08:00", "I").await;
    assert_eq!(due(&t, "response"), at("2026-10-21T09:10:00+08:00"));
    assert_eq!(due(&t, "resolution"), at("2026-10-21T18:00:00+08:00"));
}

#[tokio::test]
async fn tuesday_1750_response_is_due_at_the_interval_end_1800() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = open_at(&app, c, "2026-10-20T17:50:00+08:00", "I").await;
    assert_eq!(due(&t, "response"), at("2026-10-20T18:00:00+08:00"));
}

#[tokio::test]
async fn tuesday_noon_response_counts_from_1300_and_is_due_1310() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = open_at(&app, c, "2026-10-20T12:00:00+08:00", "I").await;
    assert_eq!(due(&t, "response"), at("2026-10-20T13:10:00+08:00"));
}

#[tokio::test]
async fn one_day_resolutions_of_level_two_keep_the_time_of_day() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let cases = [
        ("2026-10-20T15:00:00+08:00", "2026-10-21T07:00:00Z"),
        ("2026-10-16T15:00:00+08:00", "2026-10-19T15:00:00+08:00"),
        ("2026-10-17T10:00:00+08:00", "2026-10-20T09:00:00+08:00"),
        ("2026-10-20T12:30:00+08:00", "2026-10-21T13:00:00+08:00"),
        ("2026-10-20T18:00:00+08:00", "2026-10-22T09:00:00+08:00"),
    ];
    for (opened, expected) in cases {
        let t = open_at(&app, c, opened, "II").await;
        assert_eq!(due(&t, "resolution"), at(expected), "opened {opened}");
    }
}

#[tokio::test]
async fn tuesday_1800_end_of_day_is_wednesday_1800() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = open_at(&app, c, "2026-10-20T18:00:00+08:00", "I").await;
    assert_eq!(due(&t, "resolution"), at("2026-10-21T18:00:00+08:00"));
}

#[tokio::test]
async fn national_day_level_three_plan_is_due_thursday_1000_and_resolution_on_the_makeup_saturday() {
    let app = app().await;
    let c = customer_on(&app, "business").await;
    let t = open_at(&app, c, "2026-09-30T17:00:00+08:00", "III").await;
    assert_eq!(due(&t, "plan"), at("2026-10-08T10:00:00+08:00"));
    assert_eq!(due(&t, "resolution"), at("2026-10-10T17:00:00+08:00"));
    let steps = t["sla"]["plan"]["explain"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["type"] == "holiday"), "{steps:?}");
}

#[tokio::test]
async fn saturday_hours_bound_one_day_targets_from_friday() {
    let app = app().await;
    let c = customer_on(&app, "saturday").await;
    let t = open_at(&app, c, "2026-10-16T09:00:00+08:00", "II").await;
    assert_eq!(due(&t, "resolution"), at("2026-10-17T10:00:00+08:00"));
    let t = open_at(&app, c, "2026-10-16T15:00:00+08:00", "II").await;
    assert_eq!(due(&t, "resolution"), at("2026-10-17T14:00:00+08:00"));
}

#[tokio::test]
async fn berlin_one_day_across_spring_forward_and_the_25_hour_day() {
    let app = app().await;
    let c = customer_on(&app, "berlin").await;
    let t = open_at(&app, c, "2027-03-27T02:30:00+01:00", "II").await;
    assert_eq!(due(&t, "resolution"), at("2027-03-28T03:30:00+02:00"));
    let t = open_at(&app, c, "2027-03-27T12:00:00+01:00", "II").await;
    assert_eq!(due(&t, "resolution"), at("2027-03-28T12:00:00+02:00"));
    let t = open_at(&app, c, "2026-10-25T09:00:00+01:00", "I").await;
    assert_eq!(due(&t, "resolution"), at("2026-10-26T00:00:00+01:00"));
}

#[tokio::test]
async fn night_desk_counts_through_midnight_but_ends_the_day_at_midnight() {
    let app = app().await;
    let c = customer_on(&app, "night-desk").await;
    let t = open_at(&app, c, "2026-10-19T23:45:00+08:00", "I").await;
    assert_eq!(due(&t, "plan"), at("2026-10-20T00:15:00+08:00"));
    let t = open_at(&app, c, "2026-10-19T23:30:00+08:00", "I").await;
    assert_eq!(due(&t, "resolution"), at("2026-10-20T00:00:00+08:00"));
}

#[tokio::test]
async fn the_preview_example_uses_the_makeup_saturday() {
    let app = app().await;
    let r = app
        .post(
            "/api/v1/sla/preview",
            &app.admin,
            json!({"calendar": "business", "sla_policy": "standard", "level": "I", "opened_at": "2026-10-09T17:55:00+08:00"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["opened_at"], "2026-10-09T09:55:00Z");
    assert_eq!(r.body["response"]["due_at"], "2026-10-10T01:05:00Z");
    assert_eq!(r.body["plan"]["due_at"], "2026-10-10T01:25:00Z");
    assert_eq!(r.body["resolution"]["due_at"], "2026-10-10T10:00:00Z");
    assert_eq!(r.body["response"]["target"], "10m");
    let makeup = r.body["response"]["explain"]["steps"].as_array().unwrap().iter().any(|s| s["type"] == "makeup_day");
    assert!(makeup, "{}", r.body["response"]["explain"]);
}

/// Makes a change at `when` (the clock is set there first); the ticket after it.
async fn at_time(app: &TestApp, t: &Ticket, when: &str, act: Act<'_>) -> Ticket {
    app.clock.set(at(when));
    let r = app.change(t, &app.admin, act).await;
    assert_eq!(r.status, 200, "{}", r.body);
    Ticket::of(r.body)
}

fn due_of(t: &Ticket, timer: &str) -> chrono::DateTime<chrono::Utc> {
    due(&t.json, timer)
}

#[tokio::test]
async fn paused_at_1700_before_a_1800_deadline_and_resumed_at_1730_is_due_wednesday_0930() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = Ticket::of(open_at(&app, c, "2026-10-20T10:00:00+08:00", "I").await);
    at_time(&app, &t, "2026-10-20T10:00:00+08:00", Act::Respond("m")).await;
    let paused = at_time(&app, &t, "2026-10-20T17:00:00+08:00", Act::WaitCustomer("logs")).await;
    let resolution = paused.timer("resolution");
    assert_eq!(resolution["state"], "paused");
    assert_eq!(resolution["due_at"], Value::Null);
    assert_eq!(resolution["remaining_working_secs"], 3600);
    let resumed = at_time(&app, &t, "2026-10-20T17:30:00+08:00", Act::Resume).await;
    assert_eq!(due_of(&resumed, "resolution"), at("2026-10-21T09:30:00+08:00"));
}

#[tokio::test]
async fn paused_overnight_outside_working_hours_keeps_wednesday_1800() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = Ticket::of(open_at(&app, c, "2026-10-20T17:40:00+08:00", "I").await);
    at_time(&app, &t, "2026-10-20T17:40:00+08:00", Act::Respond("m")).await;
    at_time(&app, &t, "2026-10-20T20:00:00+08:00", Act::WaitCustomer("logs")).await;
    let resumed = at_time(&app, &t, "2026-10-21T08:00:00+08:00", Act::Resume).await;
    assert_eq!(due_of(&resumed, "resolution"), at("2026-10-21T18:00:00+08:00"));
}

#[tokio::test]
async fn a_level_change_pushes_the_new_deadline_by_the_paused_working_time() {
    // Level III opened Tue 17:00: plan 2h → Wed 10:00. Paused 17:50–18:00 (10 working minutes),
    // so the plan is due Wed 10:10. Upgraded to II at Wed 09:00: 1h from the original start is
    // Tue 18:00, pushed by 10m → Wed 09:10 (docs/sla.md §5).
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = Ticket::of(open_at(&app, c, "2026-10-20T17:00:00+08:00", "III").await);
    at_time(&app, &t, "2026-10-20T17:05:00+08:00", Act::Respond("m")).await;
    at_time(&app, &t, "2026-10-20T17:50:00+08:00", Act::WaitCustomer("logs")).await;
    let resumed = at_time(&app, &t, "2026-10-20T18:00:00+08:00", Act::Resume).await;
    assert_eq!(due_of(&resumed, "plan"), at("2026-10-21T10:10:00+08:00"));
    let changed = at_time(&app, &t, "2026-10-21T09:00:00+08:00", Act::Level("II", "two branches affected")).await;
    assert_eq!((changed.level.as_str(), due_of(&changed, "plan")), ("II", at("2026-10-21T09:10:00+08:00")));
    assert_eq!(changed.timer("plan")["state"], "running");
    let steps = changed.timer("plan")["explain"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["type"] == "level_change"));
    let events = app.get(&format!("/api/v1/tickets/{}/events", t.id), &app.admin).await.body;
    let change = events.as_array().unwrap().iter().find(|e| e["action"] == "level_changed").unwrap().clone();
    assert_eq!(change["note"], "two branches affected");
    assert_eq!(change["old_value"]["level"], "III");
    assert_eq!(change["new_value"]["level"], "II");
}

#[tokio::test]
async fn reopening_starts_a_new_resolution_cycle_from_the_reopen_instant() {
    let app = app().await;
    let c = customer_on(&app, "plain").await;
    let t = Ticket::of(open_at(&app, c, "2026-10-20T10:00:00+08:00", "I").await);
    let id = t.id;
    at_time(&app, &t, "2026-10-20T11:00:00+08:00", Act::Resolve("done")).await;
    let reopened = at_time(&app, &t, "2026-10-21T17:45:00+08:00", Act::Reopen("back again")).await;
    assert_eq!(reopened.timer("resolution")["cycle"], 2);
    // end_of_day from the reopen: the plan (30m) from Wed 17:45 is due Thu 09:15 → Thu 18:00.
    assert_eq!(due_of(&reopened, "resolution"), at("2026-10-22T18:00:00+08:00"));
    let all = app.get(&format!("/api/v1/tickets/{id}/sla"), &app.admin).await.body;
    let cycles: Vec<(String, i64, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["kind"].as_str().unwrap().into(), t["cycle"].as_i64().unwrap(), t["state"].as_str().unwrap().into())
        })
        .collect();
    assert!(cycles.contains(&("resolution".into(), 1, "met".into())), "{cycles:?}");
    assert!(cycles.contains(&("resolution".into(), 2, "running".into())), "{cycles:?}");
}
