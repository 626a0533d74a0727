//! Opening, reading and listing tickets.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{at, spawn};

#[tokio::test]
async fn a_chinese_outage_description_opens_a_level_one_ticket_with_three_timers() {
    let app = spawn().await;
    let c = app.customer("ACME Bank", "standard").await;
    let (contact, _) = app.contact(c, "li.wei@acme.example").await;
    let r = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": c, "contact_id": contact, "title": "核心系统", "description": "系统崩溃，业务中断"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t = &r.body;
    assert_eq!(t["level"], "I");
    assert_eq!(t["level_source"], "classified");
    assert_eq!(t["classification"]["rule"], "outage");
    assert_eq!(t["classification"]["matched"], json!(["系统崩溃", "业务中断"]));
    assert_eq!(t["status"], "open");
    assert_eq!(t["source"], "hotline");
    assert!(t["number"].as_str().unwrap().starts_with("INC-"));
    // Tue 2026-10-20 10:00 +08:00 on the business calendar.
    assert_eq!(t["sla"]["response"]["due_at"], "2026-10-20T02:10:00Z");
    assert_eq!(t["sla"]["plan"]["due_at"], "2026-10-20T02:30:00Z");
    assert_eq!(t["sla"]["resolution"]["due_at"], "2026-10-20T10:00:00Z");
    let events = app.get(&format!("/api/v1/tickets/{}/events", t["id"]), &app.admin).await;
    assert_eq!(events.body[0]["action"], "created");
    assert_eq!(events.body[0]["new_value"]["reported_at"], "2026-10-20T02:00:00Z");
    // The answer is made from what the transaction wrote, not read back: it is what GET shows.
    let shown = app.get(&format!("/api/v1/tickets/{}", t["id"]), &app.admin).await;
    assert_eq!(&shown.body, t);
    assert_eq!(t["contact"]["email"], "li.wei@acme.example");
}

#[tokio::test]
async fn a_level_in_the_request_overrides_the_classification() {
    let app = spawn().await;
    let c = app.customer("ACME", "vip").await;
    let r = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": c, "title": "how to install the agent", "level": "II"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!((r.body["level"].as_str(), r.body["level_source"].as_str()), (Some("II"), Some("manual")));
    assert_eq!(r.body["classification"]["level"], "IV");
    let shown = app.get(&format!("/api/v1/tickets/{}", r.body["id"]), &app.admin).await;
    assert_eq!(shown.body, r.body, "the answer to POST is what GET shows");
    // And for a customer opening their own ticket, in the customer's view.
    let (_, contact) = app.contact(c, "ops@acme.example").await;
    let own = app.post("/api/v1/tickets", &contact, json!({"title": "portal down"})).await;
    assert_eq!(own.status, 201, "{}", own.body);
    assert_eq!(app.get(&format!("/api/v1/tickets/{}", own.body["id"]), &contact).await.body, own.body);
}

#[tokio::test]
async fn tickets_are_found_by_id_and_by_number() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let t = app.ticket(c, "printer error").await;
    let by_number = app.get(&format!("/api/v1/tickets/{}", t["number"].as_str().unwrap()), &app.admin).await;
    let by_id = app.get(&format!("/api/v1/tickets/{}", t["id"]), &app.admin).await;
    assert_eq!(by_number.body["id"], t["id"]);
    assert_eq!(by_id.body["number"], t["number"]);
    assert_eq!(app.get("/api/v1/tickets/INC-999999", &app.admin).await.status, 404);
}

#[tokio::test]
async fn reported_at_may_be_backdated_within_the_limit_and_starts_the_timers() {
    let app = spawn().await;
    let c = app.customer("ACME", "vip").await;
    let ok = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": c, "title": "down", "reported_at": "2026-10-20T09:45:00+08:00"}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["reported_at"], "2026-10-20T01:45:00Z");
    assert_eq!(ok.body["sla"]["response"]["due_at"], "2026-10-20T01:55:00Z");
    assert_eq!(ok.body["created_at"], "2026-10-20T02:00:00Z");
    let too_old = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": c, "title": "down", "reported_at": "2026-10-20T09:29:59+08:00"}),
        )
        .await;
    assert_eq!((too_old.status.as_u16(), too_old.body["error"]["field"].as_str()), (422, Some("reported_at")));
    let future = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": c, "title": "down", "reported_at": "2026-10-20T10:00:01+08:00"}),
        )
        .await;
    assert_eq!(future.status, 422);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_ticket_and_refuses_another_body() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let send = |title: &'static str| {
        app.client
            .post(format!("{}/api/v1/tickets", app.address))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", "call-4711")
            .json(&json!({"customer_id": c, "title": title}))
            .send()
    };
    let first = send("disk full").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = send("disk full").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["Idempotent-Replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let other = send("something else").await.unwrap();
    assert_eq!(other.status(), 422);
    let list = app.get("/api/v1/tickets", &app.admin).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn lists_filter_and_page_with_cursors_for_every_sort() {
    let app = spawn().await;
    let a = app.customer("Alpha", "standard").await;
    let b = app.customer("Beta", "vip").await;
    for i in 0..5 {
        app.ticket(a, &format!("error number {i}")).await;
        app.ticket(b, &format!("system down {i}")).await;
    }
    let only_b = app.get(&format!("/api/v1/tickets?customer_id={b}&level=I"), &app.admin).await;
    assert_eq!(only_b.body["items"].as_array().unwrap().len(), 5);
    for sort in ["newest", "oldest", "urgency"] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/tickets?limit=3&sort={sort}");
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = app.get(&path, &app.admin).await;
            assert_eq!(page.status, 200, "{}", page.body);
            for t in page.body["items"].as_array().unwrap() {
                seen.push(t["id"].as_i64().unwrap());
            }
            match page.body["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (10, 10), "{sort}: {seen:?}");
    }
    let q = app.get("/api/v1/tickets?q=NUMBER%203", &app.admin).await;
    assert_eq!(q.body["items"].as_array().unwrap().len(), 1);
    let bad = app.get("/api/v1/tickets?sort=urgency&after=nonsense", &app.admin).await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn urgency_puts_the_earliest_deadline_first_and_paused_tickets_after() {
    let app = crate::helpers::spawn_with(crate::helpers::Options {
        now: Some(at("2026-10-20T19:00:00+08:00")),
        ..Default::default()
    })
    .await;
    let vip = app.customer("VIP", "vip").await;
    let std = app.customer("Standard", "standard").await;
    // After hours: the standard customer's response is due tomorrow 09:10, the VIP's at 19:10.
    let slow = app.ticket(std, "how to configure").await;
    let fast = app.ticket(vip, "outage").await; // I on 24x7
    let waiting = app.ticket(vip, "errors").await;
    let w = waiting["id"].as_i64().unwrap();
    assert_eq!(app.act(w, "respond", &app.admin, json!({"message": "looking"})).await.status, 200);
    assert_eq!(app.act(w, "wait-customer", &app.admin, json!({"reason": "logs please"})).await.status, 200);
    let list = app.get("/api/v1/tickets?sort=urgency&status=open,waiting_customer", &app.admin).await;
    let ids: Vec<i64> = list.body["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![fast["id"].as_i64().unwrap(), slow["id"].as_i64().unwrap(), w]);
    let shown = app.get(&format!("/api/v1/tickets/{w}"), &app.admin).await;
    assert_eq!(shown.body["waiting_reason"], "logs please");
}

#[tokio::test]
async fn the_breached_filter_sees_a_deadline_passed_by_the_clock() {
    let app = spawn().await;
    let c = app.customer("VIP", "vip").await;
    let t = app.ticket(c, "outage").await;
    assert_eq!(app.get("/api/v1/tickets?breached=true", &app.admin).await.body["items"].as_array().unwrap().len(), 0);
    app.clock.set(at("2026-10-20T10:10:01+08:00"));
    let breached = app.get("/api/v1/tickets?breached=true", &app.admin).await;
    assert_eq!(breached.body["items"][0]["id"], t["id"]);
    assert_eq!(breached.body["items"][0]["sla"]["response"]["state"], "breached");
    assert_eq!(app.get("/api/v1/tickets?breached=false", &app.admin).await.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn attachments_are_stored_with_their_hash_and_served_as_downloads() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let t = app.ticket(c, "error").await;
    let id = t["id"].as_i64().unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"line 1\nline 2\n".to_vec())
            .file_name("../app.log")
            .mime_str("text/plain")
            .unwrap(),
    );
    let r = app
        .client
        .post(format!("{}/api/v1/tickets/{id}/attachments", app.address))
        .bearer_auth(&app.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let a: serde_json::Value = r.json().await.unwrap();
    assert_eq!(a["filename"], "app.log");
    assert_eq!(a["sha256"], "9060554863a62b9db5f726216876654e561896071d2e6480f2048b70e0fdadb9");
    let dl = app
        .client
        .get(format!("{}/api/v1/tickets/{id}/attachments/{}", app.address, a["id"]))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(dl.status(), 200);
    assert!(dl.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(dl.bytes().await.unwrap().as_ref(), b"line 1\nline 2\n");
    let listed = app.call(Method::GET, &format!("/api/v1/tickets/{id}/attachments"), Some(&app.admin), None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_attachment_over_the_limit_is_413_and_stores_nothing() {
    let app = crate::helpers::spawn_with(crate::helpers::Options {
        env: vec![("OPSLINE_ATTACHMENTS__MAX_BYTES".into(), "1024".into())],
        ..Default::default()
    })
    .await;
    let c = app.customer("ACME", "standard").await;
    let t = app.ticket(c, "error").await;
    let before = app.counts().await;
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(vec![7u8; 4096]).file_name("big.bin"));
    let r = app
        .client
        .post(format!("{}/api/v1/tickets/{}/attachments", app.address, t["id"]))
        .bearer_auth(&app.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(app.counts().await, before);
}
