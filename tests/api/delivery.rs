//! Delivery a receiver can trust: ids that are one installation's and one row's (kept across
//! retries), results recorded as they land (a batch killed between sends sends again only what
//! was in flight), a dead instance's rows taken over within seconds and never while it beats, a
//! chain's messages in order, requests counted as attempts, and "the customer" of a ticket
//! without a contact reached through the customer's primary contact. Real receivers; the
//! workers' `run_once` functions are driven by hand.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::escalation::{Rig, deliver, rig, rig_env, rig_with, swept_warning, tick, types, vip_ticket};
use crate::helpers::{TestApp, at, eventually};

async fn notifications(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/notifications?limit=200&{query}"), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

#[tokio::test]
async fn two_installations_never_write_the_same_id_and_a_retry_keeps_its_own() {
    // Two installations (two databases), each with ticket 1 and its level I response warning.
    let (a, b) = (rig().await, rig().await);
    assert_ne!(a.app.state.installation, b.app.state.installation);
    a.hooks.answer_with(&[500]);
    for r in [&a, &b] {
        vip_ticket(&r.app, "I").await;
        tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    }
    tick(&a.app, "2026-10-20T10:08:30+08:00").await;
    let (ha, hb) = (a.hooks.received(), b.hooks.received());
    assert_eq!((ha.len(), hb.len()), (2, 1), "a's first try failed and was retried");
    assert_eq!(ha[0].json["ticket"]["number"], hb[0].json["ticket"]["number"]);
    assert_eq!((&ha[0].json["type"], &ha[0].json["step"]), (&hb[0].json["type"], &hb[0].json["step"]));
    assert_eq!(ha[0].id, ha[1].id, "a retry keeps its row's id");
    assert_ne!(ha[0].id, hb[0].id, "the same event of another installation has its own id");
    assert_eq!(ha[0].json["id"], ha[0].id, "the payload names the id it is sent under");
    let (ma, mb) = (a.smtp.mails(), b.smtp.mails());
    assert_eq!((ma.len(), mb.len()), (1, 1));
    let header = |m: &crate::receivers::ReceivedMail, h: &str| m.header(h).unwrap();
    assert_ne!(header(&ma[0], "Message-ID"), header(&mb[0], "Message-ID"));
    assert_ne!(header(&ma[0], "In-Reply-To"), header(&mb[0], "In-Reply-To"), "each installation's own thread");
    assert!(header(&ma[0], "In-Reply-To").contains(&*a.app.state.installation));
}

#[tokio::test]
async fn message_ids_are_under_the_configured_domain() {
    let r = rig_env(&[
        ("OPSLINE_EMAIL__FROM", "Hotline <hotline@support.example.com>"),
        ("OPSLINE_EMAIL__MESSAGE_ID_DOMAIN", "Mail.Example.NET"),
    ])
    .await;
    let t = vip_ticket(&r.app, "I").await;
    tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    let mail = r.smtp.mails().pop().expect("the warning mail");
    assert!(mail.header("Message-ID").unwrap().ends_with("@mail.example.net>"), "{:?}", mail.header("Message-ID"));
    let root = format!("<ticket-{}.{}@mail.example.net>", t["id"], r.app.state.installation);
    assert_eq!(mail.header("References").unwrap(), root);
}

/// The rig, with webhook requests allowed to wait 10 s for an answer: a held request stays in
/// flight until the test kills its sender.
async fn patient_rig() -> Rig {
    rig_env(&[("OPSLINE_WEBHOOKS__ENDPOINTS__OPS__TIMEOUT_MS", "10000")]).await
}

#[tokio::test]
async fn a_batch_killed_between_sends_sends_again_only_what_was_in_flight() {
    // Fewer mails than `notify.max_per_minute` to the on-call address: none folded into a digest.
    const TICKETS: usize = 18;
    const ANSWERED: usize = 8;
    let r = patient_rig().await;
    for _ in 0..TICKETS {
        vip_ticket(&r.app, "I").await;
    }
    r.app.clock.set(at("2026-10-20T10:08:00+08:00"));
    crate::escalation::sweep(&r.app).await;
    // The receiver answers the first requests and holds every later one, in flight.
    r.hooks.hold_after(ANSWERED);
    let delivered_hooks = || async {
        let rows = notifications(&r.app, "status=delivered").await;
        rows.iter().filter(|n| n["channel"] == "webhook").count()
    };
    let killed = tokio::select! {
        _ = deliver(&r.app) => false,
        _ = eventually("the answered webhooks recorded while others are held", std::time::Duration::from_secs(60), || async {
            (delivered_hooks().await == ANSWERED && r.hooks.received().len() > ANSWERED).then_some(())
        }) => true,
    };
    assert!(killed, "the batch ended although the receiver held requests");
    // The batch is gone (its future dropped mid-send, as a crash would): what the receiver got
    // beyond the answered ones was in flight. Another instance starts, after the takeover time.
    r.hooks.release();
    let second = r.second("2026-10-20T10:08:11+08:00").await;
    let in_flight = r.hooks.received().len() - ANSWERED;
    assert!(in_flight >= 1);
    deliver(&second).await;
    let rows = notifications(&second, "").await;
    assert_eq!(rows.len(), 2 * TICKETS);
    assert!(rows.iter().all(|n| n["status"] == "delivered"), "every event delivered: {rows:?}");
    let mut times: HashMap<String, usize> = HashMap::new();
    for h in r.hooks.received() {
        *times.entry(h.id).or_default() += 1;
    }
    assert_eq!(times.len(), TICKETS, "every event's id received");
    let twice = times.values().filter(|n| **n > 1).count();
    assert!(twice <= in_flight, "{twice} ids received twice, {in_flight} requests in flight at the kill");
    assert!(times.values().all(|n| *n <= 2));
}

#[tokio::test]
async fn a_dead_instances_rows_are_taken_over_after_takeover_secs_and_never_while_it_beats() {
    // 10:08: the first instance sweeps and leases the warning's rows to itself until 10:09.
    let r = swept_warning().await;
    let second = r.second("2026-10-20T10:08:05+08:00").await;
    deliver(&second).await;
    assert!(r.hooks.received().is_empty() && r.smtp.mails().is_empty(), "alive: its heartbeat is 5 s old");
    // It beats at 10:08:20: 25 s on, the lease and the holder are both alive.
    opsline::services::instances::beat(&r.app.state, at("2026-10-20T10:08:20+08:00")).await.unwrap();
    second.clock.set(at("2026-10-20T10:08:25+08:00"));
    deliver(&second).await;
    assert!(r.hooks.received().is_empty() && r.smtp.mails().is_empty(), "never while it beats");
    // Then it stops beating: after `delivery.takeover_secs` (10 s) and a delivery loop's pass
    // (at most a second), the rows are the second instance's to send, long before the lease ends.
    assert_eq!(second.state.config.settings.delivery.takeover_secs, 10);
    second.clock.set(at("2026-10-20T10:08:31+08:00"));
    deliver(&second).await;
    assert_eq!((types(&r.hooks), r.smtp.mails().len()), (vec!["sla.warning".to_string()], 1));
    let rows = notifications(&second, "").await;
    assert!(rows.iter().all(|n| n["status"] == "delivered" && n["attempts"] == 1), "one request each: {rows:?}");
    // The first instance wakes and finds nothing of its own left to send.
    r.app.clock.set(at("2026-10-20T10:08:32+08:00"));
    deliver(&r.app).await;
    assert_eq!((r.hooks.received().len(), r.smtp.mails().len()), (1, 1));
}

#[tokio::test]
async fn an_instance_restarted_under_its_name_takes_its_rows_back_at_once() {
    let r = swept_warning().await;
    // Its rows are leased under its name. Restarted under the same name (`delivery.instance_name`),
    // it takes them back as it starts, without waiting for the takeover time.
    let name = r.app.state.instance.id.clone();
    let restarted = r.second_with("2026-10-20T10:08:02+08:00", &[("OPSLINE_DELIVERY__INSTANCE_NAME", &name)]).await;
    assert_eq!(restarted.state.instance.id, name);
    deliver(&restarted).await;
    assert!(r.hooks.received().is_empty(), "held by a live heartbeat under its name until it starts");
    let back = opsline::services::instances::start(&restarted.state, restarted.clock.now()).await.unwrap();
    assert_eq!(back, 2);
    deliver(&restarted).await;
    assert_eq!((types(&r.hooks), r.smtp.mails().len()), (vec!["sla.warning".to_string()], 1));
}

#[tokio::test]
async fn with_a_failing_receiver_a_breach_is_never_delivered_before_its_warning() {
    let r = rig().await;
    // The warning fails five times; the breach comes due meanwhile.
    r.hooks.answer_with(&[500, 503, 500, 503, 500]);
    vip_ticket(&r.app, "I").await;
    for when in [
        "2026-10-20T10:08:00+08:00",
        "2026-10-20T10:08:10+08:00",
        "2026-10-20T10:10:01+08:00",
        "2026-10-20T10:11:00+08:00",
        "2026-10-20T10:14:00+08:00",
        "2026-10-20T10:25:00+08:00",
        "2026-10-20T10:40:00+08:00",
        "2026-10-20T11:20:00+08:00",
        "2026-10-20T11:21:00+08:00",
    ] {
        tick(&r.app, when).await;
    }
    let seen = types(&r.hooks);
    let last_warning = seen.iter().rposition(|t| t == "sla.warning").unwrap();
    let first_breach = seen.iter().position(|t| t == "sla.breach").expect("the breach, once its warning is through");
    assert!(first_breach > last_warning, "{seen:?}");
    assert_eq!(seen.iter().filter(|t| *t == "sla.warning").count(), 6, "five failures, then delivered: {seen:?}");
    let warning = notifications(&r.app, "")
        .await
        .into_iter()
        .find(|n| n["channel"] == "webhook" && n["event_type"] == "sla.warning")
        .unwrap();
    assert_eq!((warning["attempts"].as_i64(), warning["attempt_log"].as_array().unwrap().len()), (Some(6), 6));
}

#[tokio::test]
async fn the_customers_primary_contact_hears_about_tickets_opened_by_alerts() {
    let extra = r#"
[[escalation.rules]]
name = "tell-the-customer"
on = "opened"
notify = ["contact:customer"]
"#;
    let r = rig_with(extra, None, None).await;
    let app = &r.app;
    let acme = app.customer("Acme", "standard").await;
    let other = app.customer("Other", "standard").await;
    let (ann, _) = app.contact(acme, "ann@acme.example").await;
    let (stranger, _) = app.contact(other, "bob@other.example").await;
    let patch = |body: Value| async move {
        app.call(Method::PATCH, &format!("/api/v1/customers/{acme}"), Some(&app.admin), Some(body)).await
    };
    let refused = patch(json!({"primary_contact_id": stranger})).await;
    assert_eq!((refused.status.as_u16(), refused.body["error"]["field"].as_str()), (422, Some("primary_contact_id")));
    let set = patch(json!({"primary_contact_id": ann})).await;
    assert_eq!((set.status.as_u16(), set.body["primary_contact_id"].as_i64()), (200, Some(ann)));
    let key = app.integration_key(acme, json!({"kind": "alertmanager"})).await;
    let alert = json!({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull"},
        "startsAt": "2026-10-20T02:00:00Z", "fingerprint": "f1"}]});
    let sent = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&key), Some(alert)).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    deliver(app).await;
    let to: Vec<Vec<String>> = r.smtp.mails().into_iter().map(|m| m.to).collect();
    assert_eq!(to, vec![vec!["ann@acme.example".to_string()]]);
    // Cleared, the customer is nobody again: the rule's message is a dead letter saying so.
    assert_eq!(patch(json!({"primary_contact_id": null})).await.body["primary_contact_id"], Value::Null);
    let alert = json!({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "CpuHigh"},
        "startsAt": "2026-10-20T02:00:00Z", "fingerprint": "f2"}]});
    app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&key), Some(alert)).await;
    deliver(app).await;
    assert_eq!(r.smtp.mails().len(), 1);
    let dead = notifications(app, "status=dead").await;
    assert_eq!(dead.iter().filter(|n| n["dead_reason"] == "no_recipient").count(), 1, "{dead:?}");
}
