//! On-site visits through the API (README: On-site visits): the dated examples of the visit rules
//! held literally with the manual clock, check-ins made offline and sent later, double booking,
//! availability, the calendar feed, the signed work order and who may do what.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, at, spawn_with};

/// A staff user of `role` and their token: (user id, token).
pub async fn person(app: &TestApp, role: &str, name: &str) -> (i64, String) {
    let username = name.to_lowercase().replace(' ', ".");
    let u =
        app.post("/api/v1/users", &app.admin, json!({"username": username, "display_name": name, "role": role})).await;
    assert_eq!(u.status, 201, "{}", u.body);
    let id = u.body["id"].as_i64().unwrap();
    let t = app.post("/api/v1/tokens", &app.admin, json!({"user_id": id, "name": name})).await;
    assert_eq!(t.status, 201, "{}", t.body);
    (id, t.body["token"].as_str().unwrap().to_string())
}

/// A field engineer on the business calendar in `region`: (user id, token).
pub async fn engineer(app: &TestApp, name: &str, region: &str) -> (i64, String) {
    let (id, token) = person(app, "engineer", name).await;
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/engineers/{id}"),
            Some(&app.admin),
            Some(json!({"region": region, "skills": ["oracle", "network"], "calendar": "business"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (id, token)
}

async fn open_at(app: &TestApp, customer: i64, when: &str, level: &str) -> Value {
    app.clock.set(at(when));
    let r = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": customer, "title": "Core switch down", "level": level}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// Li Lei, a field engineer in Pudong, and Bund Trading, a standard customer: (engineer id,
/// engineer token, customer id).
async fn bund(app: &TestApp) -> (i64, String, i64) {
    let (eng, token) = engineer(app, "Li Lei", "pudong").await;
    (eng, token, app.customer("Bund Trading", "standard").await)
}

/// A ticket opened at `when` with a visit proposed at once: (ticket, visit).
async fn requested(app: &TestApp, customer: i64, when: &str, level: &str) -> (Value, Value) {
    let t = open_at(app, customer, when, level).await;
    let v = propose(app, &t, &app.admin).await;
    (t, v)
}

async fn propose(app: &TestApp, ticket: &Value, token: &str) -> Value {
    let r = app
        .post(
            &format!("/api/v1/tickets/{}/visits", ticket["id"]),
            token,
            json!({"site_address": "88 Century Ave, Pudong", "site_contact": "Mr Zhao", "site_phone": "+86 21 5555 0102"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["state"], "proposed");
    r.body
}

async fn step(app: &TestApp, visit: &Value, action: &str, token: &str, body: Value) -> crate::helpers::Resp {
    app.post(&format!("/api/v1/visits/{}/{action}", visit["id"]), token, body).await
}

async fn sla(app: &TestApp, ticket: &Value) -> Value {
    let r = app.get(&format!("/api/v1/tickets/{}", ticket["id"]), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["sla"].clone()
}

fn due(sla: &Value, timer: &str) -> chrono::DateTime<chrono::Utc> {
    at(sla[timer]["due_at"].as_str().unwrap_or_else(|| panic!("{timer} has no due_at: {sla}")))
}

fn notes(sla: &Value, timer: &str) -> Vec<String> {
    sla[timer]["explain"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["note"].as_str().map(String::from))
        .collect()
}

/// README example 1: a VIP customer (24×7, Asia/Shanghai) calls on Friday 17:30 with a level I
/// fault; the dispatcher offers Saturday 10:00, the customer chooses Monday 09:00.
#[tokio::test]
async fn friday_1730_vip_level_one_customer_chose_monday_0900_while_saturday_1000_was_offered() {
    let app = spawn_with(Options::default()).await;
    let (eng, _) = engineer(&app, "Li Lei", "pudong").await;
    let vip = app.customer("Acme Bank", "vip").await;
    let (t, v) = requested(&app, vip, "2026-10-23T17:30:00+08:00", "I").await;
    let before = sla(&app, &t).await;
    // Arrival `1d` on 24×7: the same local time the next day.
    assert_eq!(due(&before, "arrival"), at("2026-10-24T17:30:00+08:00"));
    // Resolution `end_of_day` on 24×7: midnight ending Friday.
    assert_eq!(due(&before, "resolution"), at("2026-10-24T00:00:00+08:00"));
    let r = step(
        &app,
        &v,
        "book",
        &app.admin,
        json!({
            "engineer_id": eng, "window_start": "2026-10-26T09:00:00+08:00", "window_end": "2026-10-26T11:00:00+08:00",
            "offered_start": "2026-10-24T10:00:00+08:00", "chosen_by": "customer", "travel_minutes": 45,
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["state"].as_str(), r.body["window_start"].as_str()),
        (Some("booked"), Some("2026-10-26T09:00:00+08:00"))
    );
    let after = sla(&app, &t).await;
    // 7h30m of the arrival target were left at Saturday 10:00; they count again from Monday 09:00.
    assert_eq!(due(&after, "arrival"), at("2026-10-26T16:30:00+08:00"));
    assert!(notes(&after, "arrival").iter().any(|n| n.contains("customer_window")), "{:?}", notes(&after, "arrival"));
    // The resolution was due before the offered start: a pause that begins after the deadline
    // moves nothing.
    assert_eq!(due(&after, "resolution"), at("2026-10-24T00:00:00+08:00"));
    assert!(!notes(&after, "resolution").iter().any(|n| n.contains("customer_window")));
}

/// README example 2: a standard customer (business hours) with a level II fault on Tuesday 10:00;
/// offered Tuesday 14:00, the customer chooses Thursday 09:00.
#[tokio::test]
async fn tuesday_1000_level_two_customer_chose_thursday_0900_while_tuesday_1400_was_offered() {
    let app = spawn_with(Options::default()).await;
    let (eng, _, c) = bund(&app).await;
    let (t, v) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let before = sla(&app, &t).await;
    assert_eq!(due(&before, "arrival"), at("2026-10-21T10:00:00+08:00"));
    assert_eq!(due(&before, "resolution"), at("2026-10-21T10:00:00+08:00"));
    let r = step(
        &app,
        &v,
        "book",
        &app.admin,
        json!({
            "engineer_id": eng, "window_start": "2026-10-22T09:00:00+08:00", "window_end": "2026-10-22T12:00:00+08:00",
            "offered_start": "2026-10-20T14:00:00+08:00", "chosen_by": "customer",
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = sla(&app, &t).await;
    // 5h were left at Tuesday 14:00 (14–18, 09–10); from Thursday 09:00: 09–12, 13–15.
    assert_eq!(due(&after, "arrival"), at("2026-10-22T15:00:00+08:00"));
    assert_eq!(due(&after, "resolution"), at("2026-10-22T15:00:00+08:00"));
    // The same window chosen by the dispatcher pauses nothing.
    let (t2, v2) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let r = step(
        &app,
        &v2,
        "book",
        &app.admin,
        json!({
            "engineer_id": eng, "window_start": "2026-10-22T13:00:00+08:00", "window_end": "2026-10-22T15:00:00+08:00",
            "offered_start": "2026-10-20T14:00:00+08:00", "chosen_by": "dispatcher", "travel_minutes": 0,
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(due(&sla(&app, &t2).await, "arrival"), at("2026-10-21T10:00:00+08:00"));
}

/// README example 3: no access at the door pauses the arrival and resolution clocks until the
/// re-booked window starts; travel pauses nothing; checking in meets the arrival.
#[tokio::test]
async fn no_access_at_1430_pauses_both_clocks_until_the_rebooked_wednesday_1000() {
    let app = spawn_with(Options::default()).await;
    let (eng, eng_token, c) = bund(&app).await;
    let (t, v) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let book = json!({
        "engineer_id": eng, "window_start": "2026-10-20T14:00:00+08:00", "window_end": "2026-10-20T16:00:00+08:00",
        "travel_minutes": 60,
    });
    assert_eq!(step(&app, &v, "book", &app.admin, book).await.status, 200);
    app.clock.set(at("2026-10-20T13:10:00+08:00"));
    let r = step(&app, &v, "depart", &eng_token, json!({})).await;
    assert_eq!((r.status.as_u16(), r.body["state"].as_str()), (200, Some("en_route")), "{}", r.body);
    assert_eq!(due(&sla(&app, &t).await, "arrival"), at("2026-10-21T10:00:00+08:00"), "travel moves nothing");
    app.clock.set(at("2026-10-20T14:30:00+08:00"));
    let r = step(&app, &v, "no-access", &eng_token, json!({})).await;
    assert_eq!((r.status.as_u16(), r.body["state"].as_str()), (200, Some("no_access")), "{}", r.body);
    let paused = sla(&app, &t).await;
    assert_eq!(paused["arrival"]["state"], "paused");
    assert_eq!(paused["arrival"]["remaining_working_secs"], 4 * 3600 + 1800);
    let r = step(
        &app,
        &v,
        "rebook",
        &app.admin,
        json!({"engineer_id": eng, "window_start": "2026-10-21T10:00:00+08:00", "window_end": "2026-10-21T12:00:00+08:00"}),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.body["state"].as_str()), (200, Some("booked")), "{}", r.body);
    let rebooked = sla(&app, &t).await;
    assert_eq!(due(&rebooked, "arrival"), at("2026-10-21T15:30:00+08:00"));
    assert_eq!(due(&rebooked, "resolution"), at("2026-10-21T15:30:00+08:00"));
    assert!(notes(&rebooked, "arrival").iter().any(|n| n.contains("site_no_access")));
    app.clock.set(at("2026-10-21T10:05:00+08:00"));
    let r = step(&app, &v, "arrive", &eng_token, json!({})).await;
    assert_eq!((r.status.as_u16(), r.body["state"].as_str()), (200, Some("on_site")), "{}", r.body);
    let met = sla(&app, &t).await;
    assert_eq!((met["arrival"]["state"].as_str(), met["arrival"]["breached"].as_bool()), (Some("met"), Some(false)));
    assert_eq!(at(met["arrival"]["met_at"].as_str().unwrap()), at("2026-10-21T10:05:00+08:00"));
    assert_eq!(met["resolution"]["state"], "running", "the resolution runs on");
}

/// Check-ins kept on the phone and sent three hours later count at the phone's time — the same
/// arrival as one sent at once; one older than `visits.max_offline` counts at the server's, and
/// the explain says which.
#[tokio::test]
async fn offline_check_ins_count_at_the_device_time_unless_older_than_max_offline() {
    let app = spawn_with(Options::default()).await;
    let (eng, eng_token, c) = bund(&app).await;
    let window = json!({
        "engineer_id": eng, "window_start": "2026-10-21T09:00:00+08:00", "window_end": "2026-10-21T10:00:00+08:00",
        "travel_minutes": 0, "override_clash": false,
    });
    let mut tickets = vec![];
    for start in ["2026-10-21T09:00:00+08:00", "2026-10-21T11:00:00+08:00", "2026-10-21T14:00:00+08:00"] {
        let (t, v) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
        let mut b = window.clone();
        b["window_start"] = json!(start);
        b["window_end"] = json!(at(start) + chrono::Duration::hours(1));
        assert_eq!(step(&app, &v, "book", &app.admin, b).await.status, 200);
        tickets.push((t, v));
    }
    // Online: arrives 09:40, sent at once.
    app.clock.set(at("2026-10-21T09:40:00+08:00"));
    let (t_online, v_online) = &tickets[0];
    assert_eq!(step(&app, v_online, "arrive", &eng_token, json!({})).await.status, 200);
    // Offline: arrived at 09:40 too, sent at 12:40.
    app.clock.set(at("2026-10-21T12:40:00+08:00"));
    let (t_offline, v_offline) = &tickets[1];
    let r = step(&app, v_offline, "arrive", &eng_token, json!({"device_time": "2026-10-21T09:40:00+08:00"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["clocks"][0]["clock"].as_str(), r.body["arrived_at"].as_str()),
        (Some("device"), Some("2026-10-21T01:40:00Z"))
    );
    let online = sla(&app, t_online).await;
    let offline = sla(&app, t_offline).await;
    assert_eq!(online["arrival"]["met_at"], offline["arrival"]["met_at"]);
    assert_eq!(offline["arrival"]["breached"], false);
    assert!(
        notes(&offline, "arrival").iter().any(|n| n.contains("device's time, recorded offline and sent 3h later")),
        "{:?}",
        notes(&offline, "arrival")
    );
    // Thirteen hours old: more than max_offline (12h); the server's time counts.
    app.clock.set(at("2026-10-21T22:41:00+08:00"));
    let (t_old, v_old) = &tickets[2];
    let r = step(&app, v_old, "arrive", &eng_token, json!({"device_time": "2026-10-21T09:40:00+08:00"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["clocks"][0]["clock"], "server");
    let old = sla(&app, t_old).await;
    assert_eq!(at(old["arrival"]["met_at"].as_str().unwrap()), at("2026-10-21T22:41:00+08:00"));
    assert!(
        notes(&old, "arrival").iter().any(|n| n.contains("more than visits.max_offline")),
        "{:?}",
        notes(&old, "arrival")
    );
    // A device time from someone other than the visit's engineer never counts.
    let (_, v4) = requested(&app, c, "2026-10-21T22:41:00+08:00", "II").await;
    let mut b = window.clone();
    b["window_start"] = json!("2026-10-22T09:00:00+08:00");
    b["window_end"] = json!("2026-10-22T10:00:00+08:00");
    b["engineer_id"] = json!(eng);
    assert_eq!(step(&app, &v4, "book", &app.admin, b).await.status, 200);
    let r = step(&app, &v4, "arrive", &app.admin, json!({"device_time": "2026-10-21T22:00:00+08:00"})).await;
    assert_eq!(r.status, 403, "only the visit's engineer checks in: {}", r.body);
}

/// Booking an engineer twice is refused naming the clashing visit; travel counts; a lead may book
/// over it, and that is recorded. Availability answers the free windows.
#[tokio::test]
async fn double_booking_is_refused_unless_a_lead_overrides_and_availability_subtracts_visits_and_leave() {
    let app = spawn_with(Options::default()).await;
    let (eng, eng_token) = engineer(&app, "Li Lei", "pudong").await;
    let (_, lead) = person(&app, "lead", "Boss Wu").await;
    let (_, dispatcher) = person(&app, "engineer", "Disp Chen").await;
    let c = app.customer("Bund Trading", "standard").await;
    let t1 = open_at(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let t2 = open_at(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let v1 = propose(&app, &t1, &dispatcher).await;
    let v2 = propose(&app, &t2, &dispatcher).await;
    let first = json!({"engineer_id": eng, "window_start": "2026-10-21T09:00:00+08:00", "window_end": "2026-10-21T10:00:00+08:00", "travel_minutes": 30});
    assert_eq!(step(&app, &v1, "book", &dispatcher, first).await.status, 200);
    // 10:15 is inside the first visit's travel back (until 10:30).
    let second = json!({"engineer_id": eng, "window_start": "2026-10-21T10:45:00+08:00", "window_end": "2026-10-21T11:45:00+08:00", "travel_minutes": 30});
    let r = step(&app, &v2, "book", &dispatcher, second.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "engineer_booked"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains(&format!("visit {}", v1["id"])), "{}", r.body);
    let mut over = second.clone();
    over["override_clash"] = json!(true);
    let r = step(&app, &v2, "book", &dispatcher, over.clone()).await;
    assert_eq!(r.status, 403, "only a lead overrides: {}", r.body);
    let r = step(&app, &v2, "book", &lead, over).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["clash_override"].as_str().unwrap().contains("Boss Wu"), "{}", r.body);
    // Leave on Thursday morning, added by the engineer.
    let r = app
        .post(
            &format!("/api/v1/engineers/{eng}/blocks"),
            &eng_token,
            json!({"kind": "leave", "start": "2026-10-22T09:00:00+08:00", "end": "2026-10-22T12:00:00+08:00"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .get(
            "/api/v1/engineers/availability?from=2026-10-21T00:00:00%2B08:00&to=2026-10-23T00:00:00%2B08:00&region=pudong&skill=oracle",
            &dispatcher,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let free: Vec<(String, String)> = r.body[0]["free"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["start"].as_str().unwrap().to_string(), w["end"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        free,
        vec![
            // Wednesday: busy 08:30–12:15 (two visits with travel), lunch 12–13.
            ("2026-10-21T05:00:00Z".into(), "2026-10-21T10:00:00Z".into()),
            // Thursday: leave until 12:00.
            ("2026-10-22T05:00:00Z".into(), "2026-10-22T10:00:00Z".into()),
        ]
    );
    let none = app
        .get(
            "/api/v1/engineers/availability?from=2026-10-21T00:00:00Z&to=2026-10-23T00:00:00Z&region=elsewhere",
            &dispatcher,
        )
        .await;
    assert_eq!(none.body, json!([]));
    let bad =
        app.get("/api/v1/engineers/availability?from=2026-10-21T00:00:00Z&to=2026-12-23T00:00:00Z", &dispatcher).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    // The engineer's calendar feed lists both visits.
    let list = app.get("/api/v1/engineers", &eng_token).await;
    let feed = list.body[0]["calendar_url"].as_str().expect("the engineer sees their feed").to_string();
    let ics = app.client.get(format!("{}{feed}", app.address)).send().await.unwrap();
    assert_eq!(ics.status(), 200);
    assert!(ics.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let body = ics.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.trim_end().ends_with("END:VCALENDAR"), "{body}");
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 2, "{body}");
    assert!(body.contains("DTSTART:20261021T010000Z"), "{body}");
    let wrong = app
        .client
        .get(format!("{}/api/v1/engineers/{eng}/nottherighttoken/calendar.ics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
}

/// Who may do what with visits: a contact sees their own customer's visits and signs only
/// those; an engineer checks in only their own; agents do not dispatch.
#[tokio::test]
async fn permissions_of_visits_contacts_engineers_and_agents() {
    let app = spawn_with(Options {
        env: vec![("OPSLINE_TICKETS__REQUIRE_SIGNED_VISIT".into(), "true".into())],
        ..Default::default()
    })
    .await;
    let (eng, eng_token) = engineer(&app, "Li Lei", "pudong").await;
    let (_, other_eng) = engineer(&app, "Han Mei", "pudong").await;
    let (_, agent) = person(&app, "agent", "Agent Sun").await;
    let c = app.customer("Bund Trading", "standard").await;
    let (_, contact) = app.contact(c, "zhao@bund.example").await;
    let other = app.customer("Other Corp", "standard").await;
    let (_, stranger) = app.contact(other, "x@other.example").await;
    let t = open_at(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let proposal = json!({"site_address": "1 Bund", "site_contact": "Mr Zhao"});
    for token in [&agent, &contact] {
        let r = app.post(&format!("/api/v1/tickets/{}/visits", t["id"]), token, proposal.clone()).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let v = propose(&app, &t, &app.admin).await;
    let book = json!({"engineer_id": eng, "window_start": "2026-10-21T09:00:00+08:00", "window_end": "2026-10-21T10:00:00+08:00"});
    assert_eq!(step(&app, &v, "book", &agent, book.clone()).await.status, 403, "agents do not dispatch");
    assert_eq!(step(&app, &v, "book", &contact, book.clone()).await.status, 403);
    assert_eq!(step(&app, &v, "arrive", &eng_token, json!({})).await.status, 403, "no engineer yet");
    assert_eq!(step(&app, &v, "book", &eng_token, book).await.status, 200, "an engineer may dispatch");
    let r = step(&app, &v, "complete", &eng_token, json!({"work_summary": "x"})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["allowed_actions"].clone()),
        (409, json!(["depart", "arrive", "cancel", "no_access"])),
        "{}",
        r.body
    );
    // Reading.
    assert_eq!(app.get(&format!("/api/v1/visits/{}", v["id"]), &contact).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/visits/{}", v["id"]), &stranger).await.status, 404);
    assert_eq!(app.get(&format!("/api/v1/tickets/{}/visits", t["id"]), &stranger).await.status, 404);
    assert_eq!(app.get(&format!("/api/v1/visits/{}/work-order", v["id"]), &stranger).await.status, 404);
    assert_eq!(app.get("/api/v1/engineers", &contact).await.status, 403);
    assert_eq!(
        app.get("/api/v1/engineers/availability?from=2026-10-21T00:00:00Z&to=2026-10-22T00:00:00Z", &contact)
            .await
            .status,
        403
    );
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/engineers/{eng}"),
            Some(&eng_token),
            Some(json!({"region": "x", "calendar": "business"})),
        )
        .await;
    assert_eq!(r.status, 403, "leads set field settings: {}", r.body);
    // Checking in: the visit's engineer only.
    for token in [&other_eng, &agent, &contact, &app.admin] {
        assert_eq!(step(&app, &v, "arrive", token, json!({})).await.status, 403);
    }
    app.clock.set(at("2026-10-21T09:10:00+08:00"));
    assert_eq!(step(&app, &v, "arrive", &eng_token, json!({})).await.status, 200);
    let sign = json!({"signer": "Zhao Lei", "signature_png": png()});
    assert_eq!(step(&app, &v, "sign", &contact, sign.clone()).await.status, 409, "not completed yet");
    let done = json!({"work_summary": "Replaced the supervisor module", "parts": [{"name": "SUP-720", "quantity": 1}]});
    assert_eq!(step(&app, &v, "complete", &contact, done.clone()).await.status, 403);
    assert_eq!(step(&app, &v, "complete", &eng_token, done).await.status, 200);
    // The ticket is resolved; confirming waits for the signature (tickets.require_signed_visit).
    let r = app.act(t["id"].as_i64().unwrap(), "resolve", &eng_token, json!({"resolution": "replaced"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.act(t["id"].as_i64().unwrap(), "confirm", &contact, json!({})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("signed"), "{}", r.body);
    assert_eq!(step(&app, &v, "sign", &stranger, sign.clone()).await.status, 404);
    assert_eq!(step(&app, &v, "sign", &other_eng, sign.clone()).await.status, 403);
    let bad = json!({"signer": "Zhao Lei", "signature_png": "bm90IGEgcG5n"});
    assert_eq!(step(&app, &v, "sign", &contact, bad).await.status, 422);
    let r = step(&app, &v, "sign", &contact, sign).await;
    assert_eq!((r.status.as_u16(), r.body["state"].as_str()), (200, Some("signed")), "{}", r.body);
    let digest = r.body["signature_sha256"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64);
    let r = app.act(t["id"].as_i64().unwrap(), "confirm", &contact, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The work order shows the signer, the time and the signature with its digest.
    let page = app
        .client
        .get(format!("{}/api/v1/visits/{}/work-order", app.address, v["id"]))
        .bearer_auth(&contact)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Zhao Lei") && html.contains(&digest) && html.contains("SUP-720"), "{html}");
    assert!(html.contains("data:image/png;base64,"), "the signature image");
    // The log has each step.
    let events = app.get(&format!("/api/v1/tickets/{}/events", t["id"]), &app.admin).await.body;
    let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["visit_proposed", "visit_booked", "visit_arrived", "visit_completed", "visit_signed"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

/// A one-pixel PNG, base64.
pub fn png() -> &'static str {
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
}

/// Cancelling the only open visit ends the arrival clock `cancelled` and takes back the part of
/// the customer's window pause not yet begun; bad input changes nothing.
#[tokio::test]
async fn cancelling_takes_back_the_pause_and_ends_the_arrival_and_bad_input_changes_nothing() {
    let app = spawn_with(Options::default()).await;
    let (eng, eng_token, c) = bund(&app).await;
    let (t, v) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    for bad in [
        json!({"engineer_id": eng, "window_start": "2026-10-22T09:00:00+08:00", "window_end": "2026-10-22T08:00:00+08:00"}),
        json!({"engineer_id": 999_999, "window_start": "2026-10-22T09:00:00+08:00", "window_end": "2026-10-22T10:00:00+08:00"}),
        json!({"engineer_id": eng, "window_start": "2026-10-22T09:00:00+08:00", "window_end": "2026-10-22T10:00:00+08:00", "travel_minutes": -5}),
    ] {
        let r = step(&app, &v, "book", &app.admin, bad).await;
        assert_eq!(r.status, 422, "{}", r.body);
    }
    assert_eq!(app.get(&format!("/api/v1/visits/{}", v["id"]), &app.admin).await.body["state"], "proposed");
    let book = json!({
        "engineer_id": eng, "window_start": "2026-10-22T09:00:00+08:00", "window_end": "2026-10-22T12:00:00+08:00",
        "offered_start": "2026-10-20T14:00:00+08:00", "chosen_by": "customer",
    });
    assert_eq!(step(&app, &v, "book", &app.admin, book).await.status, 200);
    assert_eq!(due(&sla(&app, &t).await, "resolution"), at("2026-10-22T15:00:00+08:00"));
    app.clock.set(at("2026-10-20T11:00:00+08:00"));
    let r = step(&app, &v, "cancel", &app.admin, json!({"reason": "fixed remotely"})).await;
    assert_eq!((r.status.as_u16(), r.body["state"].as_str()), (200, Some("cancelled")), "{}", r.body);
    let after = sla(&app, &t).await;
    assert_eq!(due(&after, "resolution"), at("2026-10-21T10:00:00+08:00"), "the pause that had not begun is gone");
    assert_eq!(after["arrival"]["state"], "cancelled");
    let r = step(&app, &v, "arrive", &eng_token, json!({})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "invalid_transition"), "{}", r.body);
    assert_eq!(r.body["error"]["status"], "cancelled", "{}", r.body);
}

/// Escalation rules take `timer = "arrival"`: a breach of the arrival clock fires like any other;
/// the metrics carry `timer="arrival"`.
#[tokio::test]
async fn an_arrival_breach_escalates_and_the_metrics_name_the_arrival_timer() {
    let rules = "[[escalation.rules]]\nname = \"arrival-breach\"\non = \"breach\"\ntimer = \"arrival\"\nnotify = [\"email:duty@example.com\"]\n";
    let app = spawn_with(Options { overlay: Some(rules.into()), ..Default::default() }).await;
    let (eng, eng_token, c) = bund(&app).await;
    let (t, v) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let book = json!({"engineer_id": eng, "window_start": "2026-10-21T13:00:00+08:00", "window_end": "2026-10-21T14:00:00+08:00"});
    assert_eq!(step(&app, &v, "book", &app.admin, book).await.status, 200);
    // Due Wednesday 10:00; the engineer arrives at 13:05.
    crate::escalation::tick(&app, "2026-10-21T10:00:01+08:00").await;
    let log = app.get(&format!("/api/v1/notifications?ticket_id={}", t["id"]), &app.admin).await.body;
    let breaches: Vec<&Value> = log.as_array().unwrap().iter().filter(|n| n["event_type"] == "sla.breach").collect();
    assert_eq!(breaches.len(), 1, "{log}");
    assert_eq!(breaches[0]["target"], "duty@example.com");
    assert_eq!(sla(&app, &t).await["arrival"]["state"], "breached");
    app.clock.set(at("2026-10-21T13:05:00+08:00"));
    assert_eq!(step(&app, &v, "arrive", &eng_token, json!({})).await.status, 200);
    let met = sla(&app, &t).await;
    assert_eq!((met["arrival"]["state"].as_str(), met["arrival"]["breached"].as_bool()), (Some("met"), Some(true)));
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("opsline_sla_timers_finished_total{")
            && l.contains("timer=\"arrival\"")
            && l.contains("outcome=\"late\"")),
        "{}",
        metrics.lines().filter(|l| l.contains("arrival")).collect::<Vec<_>>().join("\n")
    );
}

/// The customer signs through a one-time link: the engineer has it mailed (real SMTP) to the
/// customer's contact; the link signs the contact in and opens the work order in the portal,
/// where they sign; the link works once.
#[tokio::test]
async fn the_site_contact_signs_through_a_one_time_link_in_the_portal() {
    use crate::portal::Jar;
    use crate::receivers::SmtpServer;
    let smtp = SmtpServer::start().await;
    let app =
        spawn_with(Options { env: vec![("OPSLINE_EMAIL__SMTP_URL".into(), smtp.url())], ..Default::default() }).await;
    let (eng, eng_token, c) = bund(&app).await;
    let (zhao, _) = app.contact(c, "zhao@bund.example").await;
    let other = app.customer("Other Corp", "standard").await;
    let (stranger, _) = app.contact(other, "x@other.example").await;
    let (t, v) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let book = json!({"engineer_id": eng, "window_start": "2026-10-20T14:00:00+08:00", "window_end": "2026-10-20T15:00:00+08:00"});
    assert_eq!(step(&app, &v, "book", &app.admin, book).await.status, 200);
    let early =
        app.post(&format!("/api/v1/visits/{}/sign-link", v["id"]), &eng_token, json!({"contact_id": zhao})).await;
    assert_eq!(early.status, 409, "not completed yet: {}", early.body);
    app.clock.set(at("2026-10-20T14:10:00+08:00"));
    assert_eq!(step(&app, &v, "arrive", &eng_token, json!({})).await.status, 200);
    let done = json!({"work_summary": "Re-seated the line card", "outcome": "partial"});
    assert_eq!(step(&app, &v, "complete", &eng_token, done).await.status, 200);
    let wrong =
        app.post(&format!("/api/v1/visits/{}/sign-link", v["id"]), &eng_token, json!({"contact_id": stranger})).await;
    assert_eq!(wrong.status, 422, "another customer's contact: {}", wrong.body);
    let r = app.post(&format!("/api/v1/visits/{}/sign-link", v["id"]), &eng_token, json!({"contact_id": zhao})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["email"], "zhao@bund.example");
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let mail =
        smtp.mails().into_iter().find(|m| m.to.iter().any(|t| t.contains("zhao@bund.example"))).expect("the link mail");
    assert!(mail.header("Subject").unwrap().contains(t["number"].as_str().unwrap()), "{:?}", mail.header("Subject"));
    let text = mail.text();
    let link = text[text.find("/portal/link/").expect("a link")..].split_whitespace().next().unwrap().to_string();
    let mut jar = Jar::default();
    let (_, _, page) = jar.get(&app, &link).await;
    let (s, loc, _) = jar.post(&app, &link, &[("csrf_token", &crate::web::csrf(&page))]).await;
    assert_eq!((s, loc.clone()), (303, format!("/portal/visits/{}", v["id"])));
    let (s, _, html) = jar.get(&app, &loc).await;
    assert_eq!(s, 200);
    assert!(html.contains("Re-seated the line card") && html.contains("canvas"), "{html}");
    let csrf = html[html.find("data-csrf=\"").unwrap() + 11..].split('"').next().unwrap().to_string();
    let sign = |csrf: String| {
        crate::web::client()
            .post(format!("{}/portal/visits/{}/sign", app.address, v["id"]))
            .header("cookie", jar.header())
            .header("x-csrf-token", csrf)
            .json(&json!({"signer": "Zhao Lei", "signature_png": format!("data:image/png;base64,{}", png())}))
            .send()
    };
    assert_eq!(sign("forged".into()).await.unwrap().status(), 403, "the page's token is needed");
    let res = sign(csrf).await.unwrap();
    assert_eq!(res.status(), 200);
    let signed: Value = res.json().await.unwrap();
    assert_eq!((signed["state"].as_str(), signed["signer_name"].as_str()), (Some("signed"), Some("Zhao Lei")));
    let (s, _, _) = jar.post(&app, &link, &[("csrf_token", &crate::web::csrf(&page))]).await;
    assert_eq!(s, 410, "the link works once");
    let events = app.get(&format!("/api/v1/tickets/{}/events", t["id"]), &app.admin).await.body;
    let signer = events.as_array().unwrap().iter().find(|e| e["action"] == "visit_signed").unwrap();
    assert_eq!(signer["actor_name"], "zhao@bund.example", "signed by the contact: {signer}");
}

/// Cancelling the ticket cancels its visits still to happen: the engineer's time is free again
/// and the feed shows the visit cancelled.
#[tokio::test]
async fn cancelling_the_ticket_cancels_its_open_visits_and_frees_the_engineer() {
    let app = spawn_with(Options::default()).await;
    let (eng, _, c) = bund(&app).await;
    let (t, v) = requested(&app, c, "2026-10-20T10:00:00+08:00", "II").await;
    let book = json!({"engineer_id": eng, "window_start": "2026-10-21T09:00:00+08:00", "window_end": "2026-10-21T12:00:00+08:00", "travel_minutes": 0});
    assert_eq!(step(&app, &v, "book", &app.admin, book).await.status, 200);
    async fn free(app: &TestApp) -> i64 {
        let path = "/api/v1/engineers/availability?from=2026-10-21T00:00:00%2B08:00&to=2026-10-21T12:00:00%2B08:00";
        app.get(path, &app.admin).await.body[0]["free_secs"].as_i64().unwrap()
    }
    assert_eq!(free(&app).await, 0, "booked all morning");
    let r = app
        .act(t["id"].as_i64().unwrap(), "cancel", &app.admin, json!({"reason": "duplicate of another ticket"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = app.get(&format!("/api/v1/visits/{}", v["id"]), &app.admin).await.body;
    assert_eq!(after["state"], "cancelled");
    assert!(after["cancel_reason"].as_str().unwrap().contains("duplicate of another ticket"), "{after}");
    assert_eq!(free(&app).await, 3 * 3600, "the morning is free again");
    assert_eq!(sla(&app, &t).await["arrival"]["state"], "cancelled");
}
