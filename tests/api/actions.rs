//! Every action of the README's table (Tickets, statuses and actions), from every status, and what
//! each does to the ticket.

use serde_json::{Value, json};

use crate::helpers::{Act, TestApp, Ticket, at, spawn};

const STATUSES: [&str; 6] = ["open", "in_progress", "waiting_customer", "resolved", "closed", "cancelled"];

/// A fresh ticket driven into `status`.
async fn ticket_in(app: &TestApp, customer: i64, status: &str) -> i64 {
    let t = app.open_ticket(customer, "errors in the report module").await;
    let steps = match status {
        "open" => vec![],
        "in_progress" => vec![Act::Respond("looking")],
        "waiting_customer" => vec![Act::Respond("looking"), Act::WaitCustomer("logs")],
        "resolved" => vec![Act::Resolve("fixed")],
        "closed" => vec![Act::Resolve("fixed"), Act::Close],
        "cancelled" => vec![Act::Cancel("duplicate")],
        _ => unreachable!(),
    };
    for act in steps {
        let r = app.change(&t, &app.admin, act).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(app.reload(&t).await.status, status);
    t.id
}

fn allowed(action: &str) -> &'static [&'static str] {
    match action {
        "respond" => &["open"],
        "plan" => &["open", "in_progress"],
        "wait-customer" => &["in_progress"],
        "resume" => &["waiting_customer"],
        "resolve" => &["open", "in_progress", "waiting_customer"],
        "confirm" | "close" => &["resolved"],
        "reopen" => &["resolved", "closed"],
        _ => &["open", "in_progress", "waiting_customer", "resolved"],
    }
}

fn body(action: &str) -> Value {
    match action {
        "respond" => json!({"message": "we are on it"}),
        "plan" => json!({"plan": "restart the service"}),
        "wait-customer" | "reopen" | "cancel" => json!({"reason": "because"}),
        "resolve" => json!({"resolution": "restarted"}),
        "level" => json!({"level": "I", "reason": "wider impact"}),
        "assign" => json!({"assignee": null}),
        "link" => json!({"parent_id": null}),
        "comments" => json!({"body": "a note", "visibility": "internal"}),
        _ => json!({}),
    }
}

const NEXT: &[(&str, &str)] = &[
    ("respond", "in_progress"),
    ("plan", "in_progress"),
    ("wait-customer", "waiting_customer"),
    ("resume", "in_progress"),
    ("resolve", "resolved"),
    ("confirm", "closed"),
    ("close", "closed"),
    ("reopen", "in_progress"),
    ("cancel", "cancelled"),
];

#[tokio::test]
async fn every_action_is_allowed_from_exactly_the_statuses_of_the_design_table() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let (_, contact) = app.contact(c, "ops@acme.example").await;
    let actions = [
        "respond",
        "plan",
        "wait-customer",
        "resume",
        "resolve",
        "confirm",
        "close",
        "reopen",
        "cancel",
        "level",
        "assign",
        "link",
        "comments",
        "attachments",
    ];
    for action in actions {
        for status in STATUSES {
            let id = ticket_in(&app, c, status).await;
            let token = if action == "confirm" { contact.as_str() } else { app.admin.as_str() };
            let r = if action == "attachments" {
                let form = reqwest::multipart::Form::new()
                    .part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"));
                let res = app
                    .client
                    .post(format!("{}/api/v1/tickets/{id}/attachments", app.address))
                    .bearer_auth(token)
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                crate::helpers::Resp {
                    status,
                    body: res.json().await.unwrap_or(Value::Null),
                    headers: Default::default(),
                }
            } else {
                app.act(id, action, token, body(action)).await
            };
            let expect_ok = allowed(action).contains(&status);
            let ok = r.status.is_success();
            assert_eq!(ok, expect_ok, "{action} from {status}: {} {}", r.status, r.body);
            if !ok {
                assert_eq!((r.status.as_u16(), r.code()), (409, "invalid_transition"), "{action} from {status}");
                assert_eq!(r.body["error"]["status"], status);
                assert!(r.body["error"]["allowed_actions"].as_array().unwrap().iter().all(|a| a != action));
            }
            let now = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
            let expected = if ok { NEXT.iter().find(|(a, _)| *a == action).map_or(status, |(_, s)| s) } else { status };
            assert_eq!(now["status"], expected, "{action} from {status}");
        }
    }
}

#[tokio::test]
async fn a_later_plan_replaces_the_text_and_leaves_the_timers_alone() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let t = app.open_ticket(c, "errors").await;
    let first = Ticket::of(app.change(&t, &app.admin, Act::Plan("step 1")).await.body);
    assert_eq!(first.timer("response")["state"], "met");
    assert_eq!(first.timer("plan")["met_at"], "2026-10-20T02:00:00Z");
    app.clock.set(at("2026-10-20T11:00:00+08:00"));
    let second = Ticket::of(app.change(&t, &app.admin, Act::Plan("step 2")).await.body);
    assert_eq!((second.json["plan"].as_str(), second.version), (Some("step 2"), first.version + 1));
    assert_eq!(second.timer("plan")["met_at"], "2026-10-20T02:00:00Z");
}

#[tokio::test]
async fn a_staff_public_comment_responds_and_an_internal_one_does_not() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let a = app.ticket(c, "errors").await["id"].as_i64().unwrap();
    let b = app.open_ticket(c, "errors").await;
    assert_eq!(
        app.act(a, "comments", &app.admin, json!({"body": "internal", "visibility": "internal"})).await.status,
        201
    );
    assert_eq!(app.change(&b, &app.admin, Act::Comment("we see it")).await.status, 201);
    let a = app.get(&format!("/api/v1/tickets/{a}"), &app.admin).await.body;
    let b = app.reload(&b).await.json;
    assert_eq!((a["status"].as_str(), a["sla"]["response"]["state"].as_str()), (Some("open"), Some("running")));
    assert_eq!((b["status"].as_str(), b["sla"]["response"]["state"].as_str()), (Some("in_progress"), Some("met")));
}

#[tokio::test]
async fn a_customer_comment_resumes_a_ticket_waiting_for_them_without_responding() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let (_, contact) = app.contact(c, "ops@acme.example").await;
    let fresh = app.ticket(c, "errors").await["id"].as_i64().unwrap();
    assert_eq!(app.act(fresh, "comments", &contact, json!({"body": "any news?"})).await.status, 201);
    let fresh = app.get(&format!("/api/v1/tickets/{fresh}"), &app.admin).await.body;
    assert_eq!(fresh["sla"]["response"]["state"], "running");
    let id = ticket_in(&app, c, "waiting_customer").await;
    assert_eq!(app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body["sla"]["plan"]["state"], "paused");
    let r = app.act(id, "comments", &contact, json!({"body": "here are the logs"})).await;
    assert_eq!(r.status, 201);
    let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!((t["status"].as_str(), t["sla"]["plan"]["state"].as_str()), (Some("in_progress"), Some("running")));
    let internal = app.act(id, "comments", &contact, json!({"body": "secret", "visibility": "internal"})).await;
    assert_eq!(internal.status, 422);
}

#[tokio::test]
async fn reopen_works_within_the_window_and_is_refused_after_it() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let (_, contact) = app.contact(c, "ops@acme.example").await;
    let confirmed = Ticket::of(
        app.get(&format!("/api/v1/tickets/{}", ticket_in(&app, c, "resolved").await), &app.admin).await.body,
    );
    assert_eq!(app.change(&confirmed, &contact, Act::Confirm).await.body["status"], "closed", "{}", confirmed.number);
    let id = ticket_in(&app, c, "closed").await;
    app.clock.set(at("2026-11-03T10:00:00+08:00"));
    let ok = app.act(id, "reopen", &app.admin, json!({"reason": "it is back"})).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["sla"]["resolution"]["cycle"], 2);
    let id = ticket_in(&app, c, "closed").await;
    app.clock.set(at("2026-11-17T10:00:01+08:00"));
    let late = app.act(id, "reopen", &app.admin, json!({"reason": "again"})).await;
    assert_eq!((late.status.as_u16(), late.code()), (409, "invalid_transition"));
    assert!(late.body["error"]["message"].as_str().unwrap().contains("14d"));
}

#[tokio::test]
async fn if_match_with_a_stale_version_is_412_and_changes_nothing() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let t = app.ticket(c, "errors").await;
    let id = t["id"].as_i64().unwrap();
    let send = |version: &str| {
        app.client
            .post(format!("{}/api/v1/tickets/{id}/respond", app.address))
            .bearer_auth(&app.admin)
            .header("If-Match", version)
            .json(&json!({"message": "hi"}))
            .send()
    };
    let stale = send("\"7\"").await.unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body["status"], "open");
    let fresh = send(&format!("\"{}\"", t["version"])).await.unwrap();
    assert_eq!(fresh.status(), 200);
    let garbage = send("abc").await.unwrap();
    assert_eq!(garbage.status(), 400);
}

#[tokio::test]
async fn a_parent_copies_public_comments_and_its_resolution_to_its_children() {
    let app = spawn().await;
    let a = app.customer("Alpha", "standard").await;
    let b = app.customer("Beta", "vip").await;
    let parent = app.ticket(a, "core network down").await["id"].as_i64().unwrap();
    let c1 = app.ticket(a, "branch offline").await["id"].as_i64().unwrap();
    let c2 = app.ticket(b, "site offline").await["id"].as_i64().unwrap();
    for child in [c1, c2] {
        let r = app.act(child, "link", &app.admin, json!({"parent_id": parent})).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(app.get(&format!("/api/v1/tickets/{parent}"), &app.admin).await.body["children"], json!([c1, c2]));
    assert_eq!(app.act(parent, "link", &app.admin, json!({"parent_id": c1})).await.status, 422);
    assert_eq!(app.act(c1, "link", &app.admin, json!({"parent_id": c1})).await.status, 422);
    let r = app
        .act(parent, "comments", &app.admin, json!({"body": "carrier is working on it", "copy_to_children": true}))
        .await;
    assert_eq!(r.status, 201);
    for child in [c1, c2] {
        let comments = app.get(&format!("/api/v1/tickets/{child}/comments"), &app.admin).await.body;
        assert_eq!(comments[0]["body"], "carrier is working on it");
        let t = app.get(&format!("/api/v1/tickets/{child}"), &app.admin).await.body;
        assert_eq!(t["sla"]["response"]["state"], "met");
    }
    app.clock.set(at("2026-10-20T10:20:00+08:00"));
    let r =
        app.act(parent, "resolve", &app.admin, json!({"resolution": "fibre repaired", "copy_to_children": true})).await;
    assert_eq!(r.status, 200);
    for child in [c1, c2] {
        let t = app.get(&format!("/api/v1/tickets/{child}"), &app.admin).await.body;
        assert_eq!((t["status"].as_str(), t["resolution"].as_str()), (Some("resolved"), Some("fibre repaired")));
        assert_eq!(t["sla"]["resolution"]["met_at"], "2026-10-20T02:20:00Z");
    }
}

#[tokio::test]
async fn cancelling_ends_unmet_timers_as_cancelled_but_keeps_a_breach() {
    let app = spawn().await;
    let c = app.customer("VIP", "vip").await;
    let id = app.ticket(c, "outage").await["id"].as_i64().unwrap();
    app.clock.set(at("2026-10-20T10:15:00+08:00"));
    let t = app.act(id, "cancel", &app.admin, json!({"reason": "duplicate of INC-000001"})).await.body;
    assert_eq!(t["sla"]["response"]["state"], "breached");
    assert_eq!(t["sla"]["plan"]["state"], "cancelled");
    assert_eq!(t["sla"]["resolution"]["state"], "cancelled");
    assert_eq!(t["breached"], true);
}

#[tokio::test]
async fn assignment_takes_an_active_user_and_refuses_anyone_else() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let id = app.ticket(c, "errors").await["id"].as_i64().unwrap();
    let u = app.post("/api/v1/users", &app.admin, json!({"username": "wang", "role": "engineer"})).await.body;
    let ok = app.act(id, "assign", &app.admin, json!({"assignee": u["id"]})).await;
    assert_eq!(ok.body["assignee"]["username"], "wang");
    assert_eq!(app.act(id, "assign", &app.admin, json!({"assignee": 9999})).await.status, 422);
    assert_eq!(app.act(id, "assign", &app.admin, json!({"assignee": null, "team": "nope"})).await.status, 422);
}

#[tokio::test]
async fn a_ticket_waiting_five_working_days_resumes_by_itself_and_tells_its_assignee() {
    let app = spawn().await; // Tue 2026-10-20 10:00 +08:00, business calendar
    let c = app.customer("ACME", "standard").await;
    let u = app
        .post("/api/v1/users", &app.admin, json!({"username": "wang", "role": "engineer", "email": "wang@example.com"}))
        .await
        .body;
    let id = ticket_in(&app, c, "waiting_customer").await;
    app.act(id, "assign", &app.admin, json!({"assignee": u["id"]})).await;
    let upkeep = |when: &str| {
        app.clock.set(at(when));
        opsline::services::upkeep::run_once(&app.state, app.clock.now())
    };
    assert_eq!(upkeep("2026-10-27T09:59:59+08:00").await.unwrap().resumed, 0);
    assert_eq!(upkeep("2026-10-27T10:00:00+08:00").await.unwrap().resumed, 1);
    assert_eq!(upkeep("2026-10-27T10:01:00+08:00").await.unwrap().resumed, 0);
    let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!(
        (t["status"].as_str(), t["sla"]["resolution"]["state"].as_str()),
        (Some("in_progress"), Some("running"))
    );
    let events = app.get(&format!("/api/v1/tickets/{id}/events"), &app.admin).await.body;
    let resumed = events.as_array().unwrap().iter().find(|e| e["action"] == "resumed").unwrap().clone();
    assert_eq!(resumed["actor_name"], "maintenance");
    let told = app.get(&format!("/api/v1/notifications?ticket_id={id}"), &app.admin).await.body;
    assert_eq!(told[0]["target"], "wang@example.com");
    assert_eq!(told[0]["event_type"], "ticket.resumed");
}

#[tokio::test]
async fn a_resolved_ticket_closes_by_itself_after_five_days() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let id = ticket_in(&app, c, "resolved").await;
    app.clock.set(at("2026-10-25T09:59:59+08:00"));
    assert_eq!(opsline::services::upkeep::run_once(&app.state, app.clock.now()).await.unwrap().closed, 0);
    app.clock.set(at("2026-10-25T10:00:00+08:00"));
    assert_eq!(opsline::services::upkeep::run_once(&app.state, app.clock.now()).await.unwrap().closed, 1);
    let t = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!((t["status"].as_str(), t["closed_at"].as_str()), (Some("closed"), Some("2026-10-25T02:00:00Z")));
}
