//! The permission matrix (README: Roles): every endpoint × every role, a contact of the ticket's
//! customer, a contact of another customer, and no token at all — checked against the documented
//! table, not against the implementation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Anonymous,
    Agent,
    Engineer,
    Lead,
    Admin,
    Contact,
    Foreign,
}

const EVERYONE: [Who; 7] =
    [Who::Anonymous, Who::Agent, Who::Engineer, Who::Lead, Who::Admin, Who::Contact, Who::Foreign];

/// Who may use an endpoint, as the README's Roles table puts it.
#[derive(Clone, Copy)]
enum Rule {
    /// Staff from this rank up (agent = 1 … admin = 4).
    Staff(u8),
    /// Staff from this rank up, and contacts on their own customer's tickets.
    StaffOrContact(u8),
    /// Only a contact of the ticket's customer.
    ContactOnly,
    /// Only the visit's engineer (the matrix books the engineer caller).
    VisitEngineer,
    /// The visit's engineer (the customer signs on their screen) or the customer's contact.
    VisitEngineerOrContact,
    /// The engineer named in the path (the engineer caller), or staff from this rank up.
    ThemselvesOr(u8),
    /// Staff from this rank up; to contacts the thing does not exist (404).
    StaffElseHidden(u8),
}

fn rank(w: Who) -> u8 {
    match w {
        Who::Agent => 1,
        Who::Engineer => 2,
        Who::Lead => 3,
        Who::Admin => 4,
        _ => 0,
    }
}

/// The expected status class: 2xx, 401, 403 or 404.
fn expected(rule: Rule, who: Who, ticket_scoped: bool) -> u16 {
    if who == Who::Anonymous {
        return 401;
    }
    if ticket_scoped && who == Who::Foreign {
        return 404;
    }
    let contact = matches!(who, Who::Contact | Who::Foreign);
    let allowed = match rule {
        Rule::Staff(min) => !contact && rank(who) >= min,
        Rule::StaffOrContact(min) => contact || rank(who) >= min,
        Rule::ContactOnly => contact,
        Rule::VisitEngineer => who == Who::Engineer,
        Rule::VisitEngineerOrContact => contact || who == Who::Engineer,
        Rule::ThemselvesOr(min) => who == Who::Engineer || (!contact && rank(who) >= min),
        Rule::StaffElseHidden(min) => {
            if contact {
                return 404;
            }
            rank(who) >= min
        }
    };
    if allowed { 200 } else { 403 }
}

struct Case {
    method: Method,
    path: &'static str,
    /// The ticket must be in this status first (None: no ticket needed).
    status: Option<&'static str>,
    rule: Rule,
    body: Body,
}

/// Builds a request body for a caller.
type Body = fn(&Ctx, Who) -> Option<Value>;

struct Ctx {
    customer: i64,
    /// The engineer caller, a field engineer, booked on every visit.
    engineer: i64,
    /// A day of its own for each call that books, so that no booking clashes with another.
    day: u32,
    /// The contact of the customer.
    contact: i64,
    user: i64,
    token_id: i64,
    check: i64,
    /// A published customer article (knowledge-base rows only).
    published: i64,
    n: std::cell::Cell<u32>,
}

impl Ctx {
    fn unique(&self) -> u32 {
        self.n.set(self.n.get() + 1);
        self.n.get()
    }
}

fn none(_: &Ctx, _: Who) -> Option<Value> {
    None
}

/// One row of the table.
fn c(method: Method, path: &'static str, status: Option<&'static str>, rule: Rule, body: Body) -> Case {
    Case { method, path, status, rule, body }
}

/// The table, in three parts.
fn cases() -> Vec<Case> {
    [
        customers_users_tokens_and_reference_data(),
        tickets_and_their_actions(),
        checks_inspections_and_integrations(),
        visits_and_engineers(),
        knowledge_base(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Customers and their contacts, users, tokens, classification and calendars.
fn customers_users_tokens_and_reference_data() -> Vec<Case> {
    use Rule::*;
    vec![
        c(Method::GET, "/api/v1/customers", None, Staff(1), none),
        c(Method::POST, "/api/v1/customers", None, Staff(4), |x, _| {
            Some(
                json!({"name": format!("Customer {} {}", x.unique(), uuid::Uuid::new_v4().simple()), "tier": "standard"}),
            )
        }),
        c(Method::GET, "/api/v1/customers/{c}", None, Staff(1), none),
        c(Method::PATCH, "/api/v1/customers/{c}", None, Staff(4), |_, _| Some(json!({"name": "ACME Bank"}))),
        c(Method::GET, "/api/v1/customers/{c}/contacts", None, Staff(1), none),
        c(Method::POST, "/api/v1/customers/{c}/contacts", None, Staff(1), |x, _| {
            Some(json!({"name": "N", "email": format!("n{}-{}@x.example", x.unique(), uuid::Uuid::new_v4().simple())}))
        }),
        c(Method::GET, "/api/v1/users", None, Staff(4), none),
        c(Method::POST, "/api/v1/users", None, Staff(4), |x, _| {
            Some(
                json!({"username": format!("u{}-{}", x.unique(), &uuid::Uuid::new_v4().simple().to_string()[..8]), "role": "agent"}),
            )
        }),
        c(Method::GET, "/api/v1/users/{u}", None, Staff(4), none),
        c(Method::PATCH, "/api/v1/users/{u}", None, Staff(4), |_, _| Some(json!({"display_name": "Someone"}))),
        c(Method::DELETE, "/api/v1/users/{u}", None, Staff(4), none),
        c(Method::GET, "/api/v1/tokens", None, Staff(4), none),
        c(Method::POST, "/api/v1/tokens", None, Staff(4), |x, _| Some(json!({"user_id": x.user, "name": "t"}))),
        c(Method::PATCH, "/api/v1/tokens/{k}", None, Staff(4), |_, _| Some(json!({"name": "renamed"}))),
        c(Method::DELETE, "/api/v1/tokens/{k}", None, Staff(4), none),
        c(Method::POST, "/api/v1/classify", None, Staff(1), |_, _| Some(json!({"title": "down"}))),
        c(Method::GET, "/api/v1/calendars", None, Staff(1), none),
    ]
}

/// The ticket list, one ticket, and every action on it.
fn tickets_and_their_actions() -> Vec<Case> {
    use Rule::*;
    vec![
        c(Method::GET, "/api/v1/tickets", None, StaffOrContact(1), none),
        c(Method::POST, "/api/v1/tickets", None, StaffOrContact(1), |x, w| {
            Some(if matches!(w, Who::Contact | Who::Foreign) {
                json!({"title": "down"})
            } else {
                json!({"customer_id": x.customer, "title": "down"})
            })
        }),
        c(Method::GET, "/api/v1/tickets/{t}", Some("open"), StaffOrContact(1), none),
        c(Method::GET, "/api/v1/tickets/{t}/events", Some("open"), StaffOrContact(1), none),
        c(Method::GET, "/api/v1/tickets/{t}/sla", Some("open"), StaffOrContact(1), none),
        c(Method::GET, "/api/v1/tickets/{t}/comments", Some("open"), StaffOrContact(1), none),
        c(Method::GET, "/api/v1/tickets/{t}/attachments", Some("open"), StaffOrContact(1), none),
        c(Method::POST, "/api/v1/tickets/{t}/respond", Some("open"), Staff(1), |_, _| Some(json!({"message": "hi"}))),
        c(Method::POST, "/api/v1/tickets/{t}/plan", Some("open"), Staff(2), |_, _| Some(json!({"plan": "p"}))),
        c(Method::POST, "/api/v1/tickets/{t}/wait-customer", Some("in_progress"), Staff(1), |_, _| {
            Some(json!({"reason": "r"}))
        }),
        c(Method::POST, "/api/v1/tickets/{t}/resume", Some("waiting_customer"), Staff(1), none),
        c(Method::POST, "/api/v1/tickets/{t}/resolve", Some("open"), Staff(2), |_, _| Some(json!({"resolution": "r"}))),
        c(Method::POST, "/api/v1/tickets/{t}/confirm", Some("resolved"), ContactOnly, none),
        c(Method::POST, "/api/v1/tickets/{t}/close", Some("resolved"), Staff(3), none),
        c(Method::POST, "/api/v1/tickets/{t}/reopen", Some("resolved"), StaffOrContact(2), |_, _| {
            Some(json!({"reason": "r"}))
        }),
        c(Method::POST, "/api/v1/tickets/{t}/cancel", Some("open"), Staff(3), |_, _| Some(json!({"reason": "r"}))),
        c(Method::POST, "/api/v1/tickets/{t}/level", Some("open"), Staff(2), |_, _| {
            Some(json!({"level": "I", "reason": "r"}))
        }),
        c(Method::POST, "/api/v1/tickets/{t}/assign", Some("open"), Staff(1), |_, _| Some(json!({"assignee": null}))),
        c(Method::POST, "/api/v1/tickets/{t}/link", Some("open"), Staff(1), |_, _| Some(json!({"parent_id": null}))),
        c(Method::POST, "/api/v1/tickets/{t}/comments", Some("open"), StaffOrContact(1), |_, _| {
            Some(json!({"body": "b"}))
        }),
    ]
}

/// Checks, inspections, the hosts inventory, integrations and the audit log.
fn checks_inspections_and_integrations() -> Vec<Case> {
    use Rule::*;
    vec![
        c(Method::GET, "/api/v1/checks", None, Staff(1), none),
        c(Method::POST, "/api/v1/checks", None, Staff(3), |x, _| {
            Some(json!({"name": format!("c{}-{}", x.unique(), &uuid::Uuid::new_v4().simple().to_string()[..8]),
                        "kind": "host", "interval": "1h"}))
        }),
        c(Method::GET, "/api/v1/checks/{x}", None, Staff(1), none),
        c(Method::PATCH, "/api/v1/checks/{x}", None, Staff(3), |_, _| Some(json!({"tags": ["p"]}))),
        c(Method::DELETE, "/api/v1/checks/{x}", None, Staff(3), none),
        c(Method::POST, "/api/v1/checks/{x}/run", None, Staff(2), |_, _| Some(json!({}))),
        c(Method::GET, "/api/v1/checks/{x}/results", None, Staff(1), none),
        c(Method::GET, "/api/v1/inspections", None, Staff(1), none),
        c(Method::POST, "/api/v1/inspections", None, Staff(2), |_, _| Some(json!({"tags": ["perm"]}))),
        c(Method::GET, "/api/v1/inspections/{i}", None, Staff(1), none),
        c(Method::GET, "/api/v1/hosts", None, Staff(1), none),
        c(Method::GET, "/api/v1/customers/{c}/integrations", None, Staff(4), none),
        c(Method::POST, "/api/v1/customers/{c}/integrations", None, Staff(4), |_, _| Some(json!({"kind": "events"}))),
        c(Method::GET, "/api/v1/audit", None, Staff(4), none),
        // With a staff token instead of an integration key (the key itself is tested in intake).
        c(Method::POST, "/api/v1/integrations/alertmanager?customer_id={c}", None, Staff(3), |_, _| {
            Some(json!({"version": "4", "status": "firing", "alerts": []}))
        }),
    ]
}

/// A booking of the engineer caller on a day no other booking has.
fn booking(x: &Ctx, _: Who) -> Option<Value> {
    let day = chrono::Duration::days(i64::from(x.day) * 2 + 1);
    let start = crate::helpers::at("2027-01-04T09:00:00+08:00") + day;
    Some(json!({"engineer_id": x.engineer, "window_start": start, "window_end": start + chrono::Duration::hours(1)}))
}

/// Visits (the ticket's status is written `visit:<state>`: a visit in that state, booked with the
/// engineer caller), field engineers and their availability.
fn visits_and_engineers() -> Vec<Case> {
    use Rule::*;
    let check_in: Body = |_, _| Some(json!({}));
    vec![
        c(Method::POST, "/api/v1/tickets/{t}/visits", Some("open"), Staff(2), |_, _| {
            Some(json!({"site_address": "1 Bund", "site_contact": "Mr Zhao"}))
        }),
        c(Method::GET, "/api/v1/tickets/{t}/visits", Some("open"), StaffOrContact(1), none),
        c(Method::GET, "/api/v1/visits/{v}", Some("visit:proposed"), StaffOrContact(1), none),
        c(Method::GET, "/api/v1/visits/{v}/work-order", Some("visit:proposed"), StaffOrContact(1), none),
        c(Method::POST, "/api/v1/visits/{v}/book", Some("visit:proposed"), Staff(2), booking),
        c(Method::POST, "/api/v1/visits/{v}/rebook", Some("visit:no_access"), Staff(2), booking),
        c(Method::POST, "/api/v1/visits/{v}/cancel", Some("visit:booked"), Staff(2), |_, _| {
            Some(json!({"reason": "fixed remotely"}))
        }),
        c(Method::POST, "/api/v1/visits/{v}/depart", Some("visit:booked"), VisitEngineer, check_in),
        c(Method::POST, "/api/v1/visits/{v}/arrive", Some("visit:booked"), VisitEngineer, check_in),
        c(Method::POST, "/api/v1/visits/{v}/no-access", Some("visit:booked"), VisitEngineer, check_in),
        c(Method::POST, "/api/v1/visits/{v}/complete", Some("visit:on_site"), VisitEngineer, |_, _| {
            Some(json!({"work_summary": "done"}))
        }),
        c(Method::POST, "/api/v1/visits/{v}/sign", Some("visit:completed"), VisitEngineerOrContact, |_, _| {
            Some(json!({"signer": "Zhao", "signature_png": crate::visits::png()}))
        }),
        c(Method::POST, "/api/v1/visits/{v}/sign-link", Some("visit:completed"), Staff(2), |x, _| {
            Some(json!({"contact_id": x.contact}))
        }),
        c(Method::GET, "/api/v1/engineers", None, Staff(1), none),
        c(
            Method::GET,
            "/api/v1/engineers/availability?from=2027-01-04T00:00:00Z&to=2027-01-05T00:00:00Z",
            None,
            Staff(1),
            none,
        ),
        c(Method::PUT, "/api/v1/engineers/{e}", None, Staff(3), |_, _| {
            Some(json!({"region": "pudong", "skills": ["oracle"], "calendar": "business"}))
        }),
        c(Method::POST, "/api/v1/engineers/{e}/blocks", None, ThemselvesOr(3), |x, _| {
            let start = crate::helpers::at("2030-03-01T09:00:00+08:00") + chrono::Duration::days(i64::from(x.day));
            Some(json!({"kind": "training", "start": start, "end": start + chrono::Duration::hours(2)}))
        }),
    ]
}

/// Articles (`{a}`: a fresh internal draft; `{p}`: a fresh published customer article),
/// drafts from resolved tickets, suggestions and their outcomes.
fn knowledge_base() -> Vec<Case> {
    use Rule::*;
    vec![
        c(Method::GET, "/api/v1/kb/articles", None, StaffOrContact(1), none),
        c(Method::POST, "/api/v1/kb/articles", None, Staff(2), |_, _| Some(json!({"title": "凭证生成报错"}))),
        c(Method::GET, "/api/v1/kb/articles/{a}", None, StaffElseHidden(1), none),
        c(Method::GET, "/api/v1/kb/articles/{p}", None, StaffOrContact(1), none),
        c(Method::PATCH, "/api/v1/kb/articles/{a}", None, Staff(2), |_, _| Some(json!({"cause": "undo"}))),
        c(Method::GET, "/api/v1/kb/articles/{a}/versions", None, StaffElseHidden(1), none),
        c(Method::POST, "/api/v1/kb/articles/{a}/submit", None, Staff(2), none),
        c(Method::POST, "/api/v1/kb/articles/{a}/publish", None, Staff(3), none),
        c(Method::POST, "/api/v1/kb/articles/{p}/retire", None, Staff(3), none),
        c(Method::POST, "/api/v1/kb/articles/{p}/feedback", None, StaffOrContact(1), |_, _| {
            Some(json!({"helpful": true}))
        }),
        c(Method::POST, "/api/v1/kb/articles/from-ticket/{t}", Some("resolved"), Staff(2), none),
        c(Method::POST, "/api/v1/suggest", None, StaffOrContact(1), |_, _| Some(json!({"title": "凭证生成报错"}))),
        c(Method::POST, "/api/v1/kb/events", None, StaffOrContact(1), |x, _| {
            Some(json!({"outcome": "opened", "article_id": x.published}))
        }),
    ]
}

/// A new article as admin: a draft, or published for customers.
async fn article(app: &TestApp, published: bool) -> i64 {
    let visibility = if published { "customer" } else { "internal" };
    let r =
        app.post("/api/v1/kb/articles", &app.admin, json!({"title": "凭证生成报错", "visibility": visibility})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    if published {
        let p = app.post(&format!("/api/v1/kb/articles/{id}/publish"), &app.admin, json!({})).await;
        assert_eq!(p.status, 200, "{}", p.body);
    }
    id
}

/// A ticket with a visit in `state`, booked with the engineer: (ticket, visit).
async fn visit_in(app: &TestApp, ctx: &Ctx, engineer_token: &str, state: &str) -> (i64, i64) {
    let t = app.ticket(ctx.customer, "on site").await["id"].as_i64().unwrap();
    let v = app
        .post(
            &format!("/api/v1/tickets/{t}/visits"),
            &app.admin,
            json!({"site_address": "1 Bund", "site_contact": "Zhao"}),
        )
        .await;
    assert_eq!(v.status, 201, "{}", v.body);
    let v = v.body["id"].as_i64().unwrap();
    let steps: &[(&str, bool, Value)] = match state {
        "booked" => &[("book", false, Value::Null)],
        "no_access" => &[("book", false, Value::Null), ("no-access", true, json!({}))],
        "on_site" => &[("book", false, Value::Null), ("arrive", true, json!({}))],
        "completed" => &[
            ("book", false, Value::Null),
            ("arrive", true, json!({})),
            ("complete", true, json!({"work_summary": "done"})),
        ],
        _ => &[],
    };
    let mut busy = Ctx {
        customer: ctx.customer,
        engineer: ctx.engineer,
        day: ctx.day + 1000,
        contact: ctx.contact,
        user: ctx.user,
        token_id: ctx.token_id,
        check: ctx.check,
        published: ctx.published,
        n: Default::default(),
    };
    for (action, by_engineer, body) in steps {
        let body = if *action == "book" {
            busy.day += 1;
            booking(&busy, Who::Admin).unwrap()
        } else {
            body.clone()
        };
        let token = if *by_engineer { engineer_token } else { app.admin.as_str() };
        let r = app.post(&format!("/api/v1/visits/{v}/{action}"), token, body).await;
        assert_eq!(r.status, 200, "{action}: {}", r.body);
    }
    (t, v)
}

async fn ticket_in(app: &TestApp, customer: i64, status: &str) -> i64 {
    let id = app.ticket(customer, "errors").await["id"].as_i64().unwrap();
    let steps: &[(&str, Value)] = match status {
        "in_progress" => &[("respond", json!({"message": "m"}))],
        "waiting_customer" => &[("respond", json!({"message": "m"})), ("wait-customer", json!({"reason": "r"}))],
        "resolved" => &[("resolve", json!({"resolution": "r"}))],
        _ => &[],
    };
    for (a, b) in steps {
        assert_eq!(app.act(id, a, &app.admin, b.clone()).await.status, 200);
    }
    id
}

#[tokio::test]
async fn every_endpoint_answers_every_role_as_the_design_says() {
    let app = spawn().await;
    let customer = app.customer("ACME", "standard").await;
    let other = app.customer("Other", "standard").await;
    let (contact_id, contact) = app.contact(customer, "own@acme.example").await;
    let (_, foreign) = app.contact(other, "them@other.example").await;
    let (engineer, engineer_token) = crate::visits::engineer(&app, "Matrix Engineer", "pudong").await;
    let tokens = [
        (Who::Agent, app.staff("agent").await),
        (Who::Engineer, engineer_token.clone()),
        (Who::Lead, app.staff("lead").await),
        (Who::Admin, app.admin.clone()),
        (Who::Contact, contact),
        (Who::Foreign, foreign),
    ];
    app.post("/api/v1/checks", &app.admin, json!({"name": "perm", "kind": "host", "interval": "1h", "tags": ["perm"]}))
        .await;
    let inspection =
        app.post("/api/v1/inspections", &app.admin, json!({"tags": ["perm"]})).await.body["id"].as_i64().unwrap();
    let mut failures = Vec::new();
    let mut day = 0;
    for case in cases() {
        for who in EVERYONE {
            day += 1;
            // Users and tokens touched by one call must not be the callers' own.
            let victim = app
                .post(
                    "/api/v1/users",
                    &app.admin,
                    json!({"username": format!("victim-{}", uuid::Uuid::new_v4().simple()), "role": "agent"}),
                )
                .await
                .body;
            let victim_token =
                app.post("/api/v1/tokens", &app.admin, json!({"user_id": victim["id"], "name": "v"})).await.body;
            let check = app
                .post(
                    "/api/v1/checks",
                    &app.admin,
                    json!({"name": format!("victim-{}", uuid::Uuid::new_v4().simple()), "kind": "host", "interval": "1h"}),
                )
                .await
                .body;
            let ctx = Ctx {
                customer,
                engineer,
                day,
                contact: contact_id,
                user: victim["id"].as_i64().unwrap(),
                token_id: victim_token["id"].as_i64().unwrap(),
                check: check["id"].as_i64().unwrap(),
                published: if case.path.contains("{p}") || case.path.contains("/kb/events") {
                    article(&app, true).await
                } else {
                    0
                },
                n: Default::default(),
            };
            let draft = if case.path.contains("{a}") { article(&app, false).await } else { 0 };
            let (ticket, visit) = match case.status {
                Some(s) => match s.strip_prefix("visit:") {
                    Some(state) => visit_in(&app, &ctx, &engineer_token, state).await,
                    None => (ticket_in(&app, customer, s).await, 0),
                },
                None => (0, 0),
            };
            let path = case
                .path
                .replace("{t}", &ticket.to_string())
                .replace("{c}", &customer.to_string())
                .replace("{u}", &ctx.user.to_string())
                .replace("{k}", &ctx.token_id.to_string())
                .replace("{x}", &ctx.check.to_string())
                .replace("{i}", &inspection.to_string())
                .replace("{v}", &visit.to_string())
                .replace("{e}", &engineer.to_string())
                .replace("{a}", &draft.to_string())
                .replace("{p}", &ctx.published.to_string());
            let token = tokens.iter().find(|(w, _)| *w == who).map(|(_, t)| t.as_str());
            let r = app.call(case.method.clone(), &path, token, (case.body)(&ctx, who)).await;
            let got = if r.status.is_success() { 200 } else { r.status.as_u16() };
            let want = expected(case.rule, who, case.status.is_some());
            if got != want {
                failures.push(format!(
                    "{} {} as {who:?}: expected {want}, got {} {}",
                    case.method, case.path, r.status, r.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn a_contact_cannot_read_list_comment_attach_or_confirm_another_customers_ticket() {
    let app = spawn().await;
    let ours = app.customer("Ours", "standard").await;
    let theirs = app.customer("Theirs", "standard").await;
    let (_, me) = app.contact(ours, "me@ours.example").await;
    let mine = app.ticket(ours, "errors").await["id"].as_i64().unwrap();
    let other = app.ticket(theirs, "errors").await["id"].as_i64().unwrap();
    assert_eq!(app.act(other, "resolve", &app.admin, json!({"resolution": "r"})).await.status, 200);
    let list = app.get("/api/v1/tickets", &me).await;
    let ids: Vec<i64> = list.body["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![mine]);
    assert_eq!(
        app.get(&format!("/api/v1/tickets?customer_id={theirs}"), &me).await.body["items"].as_array().unwrap().len(),
        0
    );
    assert_eq!(app.get(&format!("/api/v1/tickets/{other}"), &me).await.status, 404);
    assert_eq!(app.act(other, "comments", &me, json!({"body": "hello"})).await.status, 404);
    assert_eq!(app.act(other, "confirm", &me, json!({})).await.status, 404);
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"));
    let attach = app
        .client
        .post(format!("{}/api/v1/tickets/{other}/attachments", app.address))
        .bearer_auth(&me)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(attach.status(), 404);
    assert_eq!(app.post("/api/v1/tickets", &me, json!({"customer_id": theirs, "title": "x"})).await.status, 404);
    let other_ticket = app.get(&format!("/api/v1/tickets/{other}"), &app.admin).await.body;
    assert_eq!(other_ticket["status"], "resolved");
}

#[tokio::test]
async fn revoked_expired_and_deactivated_tokens_are_refused() {
    let app = spawn().await;
    let u = app.post("/api/v1/users", &app.admin, json!({"username": "zhao", "role": "agent"})).await.body;
    let t = app
        .post(
            "/api/v1/tokens",
            &app.admin,
            json!({"user_id": u["id"], "name": "a", "expires_at": "2026-10-20T03:00:00Z"}),
        )
        .await
        .body;
    let token = t["token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/tickets", &token).await.status, 200);
    app.clock.set(crate::helpers::at("2026-10-20T03:00:00Z"));
    assert_eq!(app.get("/api/v1/tickets", &token).await.status, 401);
    let t2 = app.post("/api/v1/tokens", &app.admin, json!({"user_id": u["id"], "name": "b"})).await.body;
    let token2 = t2["token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/tickets", &token2).await.status, 200);
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/tokens/{}", t2["id"]), Some(&app.admin), None).await.status,
        204
    );
    assert_eq!(app.get("/api/v1/tickets", &token2).await.status, 401);
    let t3 = app.post("/api/v1/tokens", &app.admin, json!({"user_id": u["id"], "name": "c"})).await.body;
    let token3 = t3["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("/api/v1/users/{}", u["id"]),
            Some(&app.admin),
            Some(json!({"active": false}))
        )
        .await
        .status,
        200
    );
    let r = app.get("/api/v1/tickets", &token3).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthorized"));
    assert_eq!(app.get("/api/v1/tickets", "opl_nonsense_token").await.status, 401);
    let listed = app.get("/api/v1/tokens", &app.admin).await.body;
    assert!(listed.as_array().unwrap().iter().all(|t| t["token"] == "***"));
}

#[tokio::test]
async fn a_token_revoked_on_one_instance_is_refused_by_another_at_once() {
    let a = spawn().await;
    if !a.db.url.starts_with("postgres") {
        eprintln!("skipped: two instances sharing one database is a PostgreSQL deployment (set TEST_DATABASE_URL)");
        return;
    }
    let b =
        crate::helpers::spawn_with(crate::helpers::Options { db_url: Some(a.db.url.clone()), ..Default::default() })
            .await;
    let u = a.post("/api/v1/users", &a.admin, json!({"username": "qian", "role": "agent"})).await.body;
    let t = a.post("/api/v1/tokens", &a.admin, json!({"user_id": u["id"], "name": "phone"})).await.body;
    let token = t["token"].as_str().unwrap().to_string();
    // Instance b reads tokens on connections of its own; they are open now.
    for _ in 0..8 {
        assert_eq!(b.get("/api/v1/tickets", &token).await.status, 200);
    }
    let revoked = a.call(Method::DELETE, &format!("/api/v1/tokens/{}", t["id"]), Some(&a.admin), None).await;
    assert_eq!(revoked.status, 204);
    assert_eq!(b.get("/api/v1/tickets", &token).await.status, 401, "b must not answer from anything it kept");

    // The server closes every connection that read a token: each instance's next reads open new
    // ones, and no request fails for it.
    let db = sea_orm::Database::connect(&a.db.url).await.unwrap();
    let closed = sea_orm::ConnectionTrait::query_all_raw(
        &db,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND query LIKE '%FROM api_tokens t LEFT JOIN users u%'",
        ),
    )
    .await
    .unwrap();
    assert!(!closed.is_empty(), "the token reads ran on connections of their own");
    for app in [&a, &b] {
        for _ in 0..8 {
            assert_eq!(app.get("/api/v1/tickets", &app.admin).await.status, 200);
        }
    }
    db.close().await.unwrap();
}
