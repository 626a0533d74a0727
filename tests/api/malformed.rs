//! Bad input gets a 4xx JSON error, never a 500, and writes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn;

/// Name, method, path, body, extra headers.
type Case = (&'static str, Method, String, Body, Vec<(&'static str, String)>);

enum Body {
    None,
    Json(Value),
    Raw(&'static str, String),
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// Bodies for a new ticket that do not parse, lack a title or carry one too long.
fn new_tickets_with_bad_or_missing_fields(c: i64) -> Vec<Case> {
    vec![
        (
            "syntax error",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Raw("application/json", "{\"title\":".into()),
            vec![],
        ),
        (
            "wrong type",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": "x", "title": "a"})),
            vec![],
        ),
        ("missing title", Method::POST, "/api/v1/tickets".into(), Body::Json(json!({"customer_id": c})), vec![]),
        (
            "empty title",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": ""})),
            vec![],
        ),
        (
            "blank title",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": "   "})),
            vec![],
        ),
        (
            "title too long",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": long(201)})),
            vec![],
        ),
        (
            "description too long",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": "a", "description": long(20_001)})),
            vec![],
        ),
    ]
}

/// Bodies for a new ticket naming what does not exist, or not a ticket's shape or size.
fn new_tickets_naming_unknown_things_or_of_the_wrong_shape(c: i64, foreign_contact: i64) -> Vec<Case> {
    vec![
        (
            "unknown field",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": "a", "priority": 1})),
            vec![],
        ),
        (
            "unknown level",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": "a", "level": "V"})),
            vec![],
        ),
        (
            "unknown source",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": "a", "source": "fax"})),
            vec![],
        ),
        (
            "bad timestamp",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": "a", "reported_at": "yesterday"})),
            vec![],
        ),
        (
            "no such customer",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": 999_999, "title": "a"})),
            vec![],
        ),
        (
            "foreign contact",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "contact_id": foreign_contact, "title": "a"})),
            vec![],
        ),
        ("not JSON", Method::POST, "/api/v1/tickets".into(), Body::Raw("text/plain", "title=a".into()), vec![]),
        (
            "too large",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Raw(
                "application/json",
                format!("{{\"customer_id\": {c}, \"title\": \"a\", \"description\": \"{}\"}}", long(1_100_000)),
            ),
            vec![],
        ),
        ("array body", Method::POST, "/api/v1/tickets".into(), Body::Json(json!([1, 2])), vec![]),
        ("null body", Method::POST, "/api/v1/tickets".into(), Body::Raw("application/json", "null".into()), vec![]),
        (
            "oversized idempotency key",
            Method::POST,
            "/api/v1/tickets".into(),
            Body::Json(json!({"customer_id": c, "title": "a"})),
            vec![("Idempotency-Key", long(300))],
        ),
    ]
}

/// The ticket list's and one ticket's parameters, and actions on a ticket.
fn ticket_queries_and_actions_with_bad_parameters(t: i64) -> Vec<Case> {
    vec![
        ("bad ticket ref", Method::GET, "/api/v1/tickets/abc".into(), Body::None, vec![]),
        ("limit zero", Method::GET, "/api/v1/tickets?limit=0".into(), Body::None, vec![]),
        ("limit not a number", Method::GET, "/api/v1/tickets?limit=abc".into(), Body::None, vec![]),
        ("unknown status filter", Method::GET, "/api/v1/tickets?status=bogus".into(), Body::None, vec![]),
        ("unknown level filter", Method::GET, "/api/v1/tickets?level=V".into(), Body::None, vec![]),
        ("unknown sort", Method::GET, "/api/v1/tickets?sort=random".into(), Body::None, vec![]),
        ("bad cursor", Method::GET, "/api/v1/tickets?after=!!!".into(), Body::None, vec![]),
        ("unknown query parameter", Method::GET, "/api/v1/tickets?colour=red".into(), Body::None, vec![]),
        (
            "empty response message",
            Method::POST,
            format!("/api/v1/tickets/{t}/respond"),
            Body::Json(json!({"message": ""})),
            vec![],
        ),
        (
            "level without reason",
            Method::POST,
            format!("/api/v1/tickets/{t}/level"),
            Body::Json(json!({"level": "I"})),
            vec![],
        ),
        (
            "same level",
            Method::POST,
            format!("/api/v1/tickets/{t}/level"),
            Body::Json(json!({"level": "III", "reason": "r"})),
            vec![],
        ),
        (
            "assignee of wrong type",
            Method::POST,
            format!("/api/v1/tickets/{t}/assign"),
            Body::Json(json!({"assignee": "me"})),
            vec![],
        ),
        (
            "unknown visibility",
            Method::POST,
            format!("/api/v1/tickets/{t}/comments"),
            Body::Json(json!({"body": "b", "visibility": "secret"})),
            vec![],
        ),
        (
            "attachment not multipart",
            Method::POST,
            format!("/api/v1/tickets/{t}/attachments"),
            Body::Json(json!({"file": "x"})),
            vec![],
        ),
        (
            "bad If-Match",
            Method::POST,
            format!("/api/v1/tickets/{t}/respond"),
            Body::Json(json!({"message": "m"})),
            vec![("If-Match", "seven".into())],
        ),
    ]
}

/// Customers, their contacts, users and tokens.
fn customers_contacts_users_and_tokens_with_bad_values(c: i64) -> Vec<Case> {
    vec![
        ("bad customer id", Method::GET, "/api/v1/customers/abc".into(), Body::None, vec![]),
        (
            "unknown tier",
            Method::POST,
            "/api/v1/customers".into(),
            Body::Json(json!({"name": "N", "tier": "gold"})),
            vec![],
        ),
        (
            "unknown calendar",
            Method::POST,
            "/api/v1/customers".into(),
            Body::Json(json!({"name": "N", "tier": "vip", "calendar": "mars"})),
            vec![],
        ),
        (
            "bad customer key",
            Method::POST,
            "/api/v1/customers".into(),
            Body::Json(json!({"name": "N", "tier": "vip", "key": "Bad Key"})),
            vec![],
        ),
        (
            "bad e-mail",
            Method::POST,
            format!("/api/v1/customers/{c}/contacts"),
            Body::Json(json!({"name": "N", "email": "not-an-email"})),
            vec![],
        ),
        (
            "unknown language",
            Method::POST,
            format!("/api/v1/customers/{c}/contacts"),
            Body::Json(json!({"name": "N", "email": "n@x.example", "language": "fr"})),
            vec![],
        ),
        (
            "unknown role",
            Method::POST,
            "/api/v1/users".into(),
            Body::Json(json!({"username": "u", "role": "superuser"})),
            vec![],
        ),
        (
            "bad username",
            Method::POST,
            "/api/v1/users".into(),
            Body::Json(json!({"username": "bad name!", "role": "agent"})),
            vec![],
        ),
        (
            "short password",
            Method::POST,
            "/api/v1/users".into(),
            Body::Json(json!({"username": "u2", "role": "agent", "password": "short"})),
            vec![],
        ),
        (
            "token for both user and role",
            Method::POST,
            "/api/v1/tokens".into(),
            Body::Json(json!({"user_id": 1, "role": "agent", "name": "n"})),
            vec![],
        ),
        (
            "token already expired",
            Method::POST,
            "/api/v1/tokens".into(),
            Body::Json(json!({"user_id": 1, "name": "n", "expires_at": "2020-01-01T00:00:00Z"})),
            vec![],
        ),
        ("bad user id", Method::PATCH, "/api/v1/users/abc".into(), Body::Json(json!({"display_name": "x"})), vec![]),
    ]
}

/// Classification, routing, names and bodies elsewhere.
fn other_endpoints_with_bad_input() -> Vec<Case> {
    vec![
        (
            "classify title too long",
            Method::POST,
            "/api/v1/classify".into(),
            Body::Json(json!({"title": long(201)})),
            vec![],
        ),
        ("unknown route", Method::GET, "/api/v1/nothing-here".into(), Body::None, vec![]),
        (
            "NUL in a name",
            Method::POST,
            "/api/v1/customers".into(),
            Body::Json(json!({"name": "A\u{0}B", "tier": "vip"})),
            vec![],
        ),
        // serde would read a struct from an array of its fields; a body must be an object.
        ("array for an object", Method::PATCH, "/api/v1/tokens/1".into(), Body::Json(json!([null, null])), vec![]),
        ("array for a ticket", Method::POST, "/api/v1/tickets".into(), Body::Json(json!([1, "t", "d"])), vec![]),
        (
            "malformed optional body",
            Method::POST,
            "/api/v1/inspections".into(),
            Body::Raw("application/json", "{\"tags\": ".into()),
            vec![],
        ),
    ]
}

#[tokio::test]
async fn at_least_thirty_kinds_of_malformed_request_get_a_4xx_json_error_and_write_nothing() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    let other = app.customer("Other", "standard").await;
    let (foreign_contact, _) = app.contact(other, "x@other.example").await;
    let t = app.ticket(c, "errors in the log").await["id"].as_i64().unwrap();
    let cases: Vec<Case> = [
        new_tickets_with_bad_or_missing_fields(c),
        new_tickets_naming_unknown_things_or_of_the_wrong_shape(c, foreign_contact),
        ticket_queries_and_actions_with_bad_parameters(t),
        customers_contacts_users_and_tokens_with_bad_values(c),
        other_endpoints_with_bad_input(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(cases.len() >= 30);
    let before = app.counts().await;
    for (name, method, path, body, headers) in cases {
        let mut req = app.client.request(method, format!("{}{}", app.address, path)).bearer_auth(&app.admin);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ct, s) => req.header("content-type", ct).body(s),
        };
        let res = req.send().await.unwrap();
        let status = res.status();
        let json: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_client_error(), "{name}: {status} {json}");
        assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "{name}: {json}");
        assert_eq!(app.counts().await, before, "{name} wrote something");
    }
}

#[tokio::test]
async fn server_errors_carry_no_internal_text() {
    let app = spawn().await;
    let c = app.customer("ACME", "standard").await;
    // Break the schema under the running application to force a database error.
    use sea_orm::ConnectionTrait;
    app.state.db.execute_unprepared("DROP TABLE idempotency_keys").await.unwrap();
    let r = app
        .client
        .post(format!("{}/api/v1/tickets", app.address))
        .bearer_auth(&app.admin)
        .header("Idempotency-Key", "k")
        .json(&json!({"customer_id": c, "title": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    assert!(!body.to_string().to_lowercase().contains("idempotency_keys"));
}

#[tokio::test]
async fn requests_without_a_token_get_401_with_a_json_body() {
    let app = spawn().await;
    let r = app.call(Method::GET, "/api/v1/tickets", None, None).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthorized"));
    assert_eq!(r.headers["www-authenticate"], "Bearer");
}
