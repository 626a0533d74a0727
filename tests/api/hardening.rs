//! Hardening: rate limits on guessed tokens, token creation and intake; security headers on
//! HTML; no cross-origin access unless configured; configuration versions in the audit log.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Options, spawn, spawn_with};

/// Limits small enough to reach (environment variables: the test overlay sets `[limits]`).
fn tight() -> Options {
    let env = [("FAILED_AUTH", "3"), ("TOKEN_CREATION", "2"), ("INTAKE", "2")]
        .map(|(k, v)| (format!("OPSLINE_LIMITS__{k}_PER_MINUTE"), v.to_string()));
    Options { env: env.to_vec(), ..Default::default() }
}

#[tokio::test]
async fn guessed_tokens_are_held_back_after_the_limit_and_valid_ones_still_pass() {
    let app = spawn_with(tight()).await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/tickets", "opl_guess_wrongwrongwrong").await.status, 401);
    }
    let r = app.get("/api/v1/tickets", "opl_guess_wrongwrongwrong").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"), "{}", r.body);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(app.get("/api/v1/tickets", &app.admin).await.status, 200, "a valid token is never held back");
    // A missing token is no guess.
    assert_eq!(app.call(Method::GET, "/api/v1/tickets", None, None).await.status, 401);
}

#[tokio::test]
async fn token_creation_and_intake_are_rate_limited_per_address() {
    let app = spawn_with(tight()).await;
    let user = app.post("/api/v1/users", &app.admin, json!({"username": "svc", "role": "agent"})).await.body;
    for _ in 0..2 {
        let r = app.post("/api/v1/tokens", &app.admin, json!({"user_id": user["id"], "name": "t"})).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = app.post("/api/v1/tokens", &app.admin, json!({"user_id": user["id"], "name": "t"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    let cust = app.customer("Acme", "vip").await;
    let key = app.integration_key(cust, json!({"kind": "alertmanager"})).await;
    let empty = json!({"version": "4", "alerts": []});
    for _ in 0..2 {
        let r = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&key), Some(empty.clone())).await;
        assert_eq!(r.status, 200);
    }
    let r = app.call(Method::POST, "/api/v1/integrations/alertmanager", Some(&key), Some(empty)).await;
    assert_eq!(r.status, 429);
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn html_carries_security_headers_and_cross_origin_calls_need_configuring() {
    let app = spawn().await;
    let docs = app.client.get(format!("{}/api/docs/", app.address)).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let h = docs.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let api = app.get("/api/v1/tickets", &app.admin).await;
    assert_eq!(api.headers["x-content-type-options"], "nosniff");
    let preflight = |app: &crate::helpers::TestApp, origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/api/v1/tickets", app.address))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .send()
    };
    let r = preflight(&app, "https://wall.example.com").await.unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"), "off by default");

    let open = spawn_with(Options {
        overlay: Some("[http]\ncors_origins = [\"https://wall.example.com\"]\n".into()),
        ..Default::default()
    })
    .await;
    let r = preflight(&open, "https://wall.example.com").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "https://wall.example.com");
    let r = preflight(&open, "https://evil.example").await.unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn configuration_versions_are_in_the_audit_log() {
    let app = spawn().await;
    let audit = app.get("/api/v1/audit?limit=200", &app.admin).await.body;
    let registered: Vec<_> =
        audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "config.registered").collect();
    assert_eq!(registered.len(), 1, "{audit}");
    assert_eq!(registered[0]["actor_kind"], "system");
    assert!(registered[0]["detail"]["versions"]["calendars"].is_object(), "{}", registered[0]);
    let r = app.get("/api/v1/audit?limit=0", &app.admin).await;
    assert_eq!(r.status, 422);
    let r = app.get("/api/v1/audit?after=xyz", &app.admin).await;
    assert_eq!(r.status, 422);
}
