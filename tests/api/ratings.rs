//! Satisfaction ratings: the closing mail (real SMTP) carries one link per score; the link's page
//! rates once; a low score, or any VIP score, starts the callback timer on the SLA engine, met
//! when staff log the call; an expired link gets a clear page; the report and the metrics count
//! the ratings.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, at, spawn_with};
use crate::receivers::SmtpServer;

async fn closed_ticket(app: &TestApp, customer: i64, contact: i64, title: &str) -> i64 {
    let t = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": customer, "title": title, "level": "III", "contact_id": contact}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.body);
    let id = t.body["id"].as_i64().unwrap();
    for (action, body) in
        [("respond", json!({"message": "m"})), ("resolve", json!({"resolution": "r"})), ("close", json!({}))]
    {
        let r = app.act(id, action, &app.admin, body).await;
        assert_eq!(r.status, 200, "{action}: {}", r.body);
    }
    id
}

/// The rating link of the mail sent to `to` about ticket `number`, without its `?score=`.
fn rating_link(smtp: &SmtpServer, to: &str, number: &str) -> String {
    let mail = smtp
        .mails()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t.contains(to)) && m.text().contains(number) && m.text().contains("/ratings/"))
        .unwrap_or_else(|| panic!("no rating mail to {to} about {number}"));
    let text = mail.text();
    let at = text.find("/ratings/").unwrap();
    let link = text[at..].split_whitespace().next().unwrap();
    assert!(link.ends_with("?score=1"), "the first link is for a score of 1: {link}");
    assert!(mail.html().contains("score=5"), "one link per score");
    link.trim_end_matches("?score=1").to_string()
}

async fn rating_of(app: &TestApp, ticket: i64) -> Value {
    let r = app.get(&format!("/api/v1/ratings?ticket_id={ticket}"), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body[0].clone()
}

async fn form(app: &TestApp, link: &str, body: &str) -> (u16, String) {
    let r = app
        .client
        .post(format!("{}{link}", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_closing_mail_asks_for_a_rating_and_a_low_score_starts_a_timed_callback() {
    let smtp = SmtpServer::start().await;
    let env = vec![("OPSLINE_EMAIL__SMTP_URL".to_string(), smtp.url())];
    let app = spawn_with(Options { env, now: Some(at("2026-11-17T10:00:00+08:00")), ..Default::default() }).await;
    let c = app.customer("华夏银行", "standard").await;
    let (contact, contact_token) = app.contact(c, "it@huaxia.example").await;
    let id = closed_ticket(&app, c, contact, "凭证生成报错").await;
    let number =
        app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body["number"].as_str().unwrap().to_string();
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let link = rating_link(&smtp, "it@huaxia.example", &number);

    // The one-click link opens the page with the score chosen; opening it rates nothing.
    let page = app.client.get(format!("{}{link}?score=1", app.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains(&number) && page.contains(r#"value="1" checked"#), "{page}");
    let asked = rating_of(&app, id).await;
    assert_eq!((&asked["score"], asked["callback"].as_bool()), (&Value::Null, Some(false)), "{asked}");
    let ticket = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert!(ticket["sla"].get("callback").is_none(), "no callback before a rating: {ticket}");

    // Bad input changes nothing; then the page's button rates once.
    let (status, _) = form(&app, &link, "score=9").await;
    assert_eq!(status, 422);
    assert_eq!(rating_of(&app, id).await["score"], Value::Null);
    app.clock.set(at("2026-11-17T11:00:00+08:00"));
    let (status, thanks) = form(&app, &link, "score=1&comment=%E5%A4%AA%E6%85%A2").await;
    assert_eq!(status, 200, "{thanks}");
    assert!(thanks.contains("感谢") || thanks.contains("Thank"), "{thanks}");
    let rated = rating_of(&app, id).await;
    assert_eq!(
        (rated["score"].as_u64(), rated["comment"].as_str(), rated["callback"].as_bool()),
        (Some(1), Some("太慢"), Some(true))
    );
    let (again, page) = form(&app, &link, "score=5").await;
    assert_eq!(again, 200);
    assert!(page.contains("已评价") || page.contains("You have rated"), "{page}");
    assert_eq!(rating_of(&app, id).await["score"].as_u64(), Some(1), "the first rating stands");

    // The callback is a timer on the SLA engine: the policy's level III target (1 working day),
    // with its explain, in the ticket's log.
    let ticket = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    let cb = &ticket["sla"]["callback"];
    assert_eq!((cb["state"].as_str(), cb["target"].as_str()), (Some("running"), Some("1d")), "{ticket}");
    assert_eq!(cb["due_at"].as_str(), Some("2026-11-18T03:00:00Z"), "{cb}");
    assert!(!cb["explain"]["steps"].as_array().unwrap().is_empty(), "{cb}");
    let events = app.get(&format!("/api/v1/tickets/{id}/events"), &app.admin).await.body;
    assert!(events.as_array().unwrap().iter().any(|e| e["action"] == "rated"), "{events}");

    // Staff log the call; the customer cannot.
    let rid = rated["id"].as_i64().unwrap();
    let path = format!("/api/v1/ratings/{rid}/callback");
    assert_eq!(app.post(&path, &contact_token, json!({"note": "x"})).await.status, 403);
    assert_eq!(app.post(&path, &app.admin, json!({"note": "  "})).await.status, 422);
    app.clock.set(at("2026-11-17T15:00:00+08:00"));
    let done = app.post(&path, &app.admin, json!({"note": "客户接受解释"})).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body["called_back_at"].is_string(), "{}", done.body);
    assert_eq!(app.post(&path, &app.admin, json!({"note": "again"})).await.status, 409);
    let ticket = app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body;
    assert_eq!(ticket["sla"]["callback"]["state"], "met", "{ticket}");
    let open = app.get("/api/v1/ratings?callback=open", &app.admin).await.body;
    assert_eq!(open, json!([]));

    // A 4 from a standard customer asks for no callback; any VIP score does (through the API).
    let id4 = closed_ticket(&app, c, contact, "打印机").await;
    let r = app.post("/api/v1/ratings", &contact_token, json!({"ticket_id": id4, "score": 4})).await;
    assert_eq!((r.status.as_u16(), r.body["callback"].as_bool()), (200, Some(false)), "{}", r.body);
    assert!(app.get(&format!("/api/v1/tickets/{id4}"), &app.admin).await.body["sla"].get("callback").is_none());
    let vip = app.customer("VIP Bank", "vip").await;
    let (vip_contact, vip_token) = app.contact(vip, "ops@vip.example").await;
    let idv = closed_ticket(&app, vip, vip_contact, "core down").await;
    assert_eq!(app.post("/api/v1/ratings", &contact_token, json!({"ticket_id": idv, "score": 5})).await.status, 404);
    let r = app.post("/api/v1/ratings", &vip_token, json!({"ticket_id": idv, "score": 5})).await;
    assert_eq!((r.status.as_u16(), r.body["callback"].as_bool()), (200, Some(true)), "{}", r.body);
    assert_eq!(app.get("/api/v1/ratings?callback=open", &app.admin).await.body.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/v1/ratings", &vip_token).await.body.as_array().unwrap().len(),
        1,
        "a contact sees their own"
    );

    // The board's counter.
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"opsline_ratings_total{score="1",tier="standard"} 1"#,
        r#"opsline_ratings_total{score="4",tier="standard"} 1"#,
        r#"opsline_ratings_total{score="5",tier="vip"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    // The week's report counts them, from rows written once.
    app.clock.set(at("2026-11-23T10:00:00+08:00"));
    let report = app
        .post(&format!("/api/v1/customers/{c}/reports"), &app.admin, json!({"period": "weekly", "from": "2026-11-16"}))
        .await;
    assert_eq!(report.status, 201, "{}", report.body);
    let s = &report.body["content"]["satisfaction"];
    assert_eq!(
        (s["asked"].as_u64(), s["rated"].as_u64(), &s["scores"]),
        (Some(2), Some(2), &json!([1, 0, 0, 1, 0])),
        "{s}"
    );
    assert_eq!(
        (s["mean"].as_f64(), s["callbacks_asked"].as_u64(), s["callbacks_in_time"].as_u64()),
        (Some(2.5), Some(1), Some(1))
    );
}

#[tokio::test]
async fn an_expired_rating_link_is_refused_with_a_clear_page() {
    let smtp = SmtpServer::start().await;
    let env = vec![("OPSLINE_EMAIL__SMTP_URL".to_string(), smtp.url())];
    let app = spawn_with(Options { env, now: Some(at("2026-11-17T10:00:00+08:00")), ..Default::default() }).await;
    let c = app.customer("ACME", "standard").await;
    let (contact, token) = app.contact(c, "ops@acme.example").await;
    let id = closed_ticket(&app, c, contact, "slow").await;
    let number =
        app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body["number"].as_str().unwrap().to_string();
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let link = rating_link(&smtp, "ops@acme.example", &number);
    let mail = smtp.mails().into_iter().find(|m| m.text().contains("/ratings/")).unwrap().text();
    assert!(mail.contains("2026-12-01 10:00"), "the closing time in the customer's zone: {mail}");

    // ratings.expire_after is 14 days.
    app.clock.set(at("2026-12-01T10:00:01+08:00"));
    let page = app.client.get(format!("{}{link}?score=2", app.address)).send().await.unwrap();
    assert_eq!(page.status(), 410);
    let page = page.text().await.unwrap();
    assert!(page.contains("评价链接已过期") || page.contains("expired"), "{page}");
    assert!(!page.contains(r#"name="score""#), "no form on an expired link: {page}");
    assert_eq!(form(&app, &link, "score=2").await.0, 410);
    let r = app.post("/api/v1/ratings", &token, json!({"ticket_id": id, "score": 2})).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["code"].as_str()), (409, Some("rating_expired")), "{}", r.body);
    assert_eq!(rating_of(&app, id).await["score"], Value::Null, "nothing recorded");

    // A forged or altered token is refused too.
    let forged = format!("{}x", link);
    let page = app.client.get(format!("{}{forged}", app.address)).send().await.unwrap();
    assert_eq!(page.status(), 404);
}

#[tokio::test]
async fn the_portal_ticket_page_takes_the_rating() {
    use crate::portal::Jar;
    use crate::web::csrf;
    let smtp = SmtpServer::start().await;
    let env = vec![("OPSLINE_EMAIL__SMTP_URL".to_string(), smtp.url())];
    let app = spawn_with(Options { env, now: Some(at("2026-11-17T10:00:00+08:00")), ..Default::default() }).await;
    let c = app.customer("华夏银行", "standard").await;
    let (contact, _) = app.contact(c, "it@huaxia.example").await;
    let id = closed_ticket(&app, c, contact, "登录失败").await;
    let number =
        app.get(&format!("/api/v1/tickets/{id}"), &app.admin).await.body["number"].as_str().unwrap().to_string();
    let purpose = opsline::services::contact_links::Purpose::SignIn;
    opsline::services::contact_links::request(&app.state, "it@huaxia.example", purpose, app.clock.now()).await.unwrap();
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let text = smtp.mails().into_iter().find(|m| m.text().contains("/portal/link/")).expect("the sign-in mail").text();
    let link = text[text.find("/portal/link/").unwrap()..].split_whitespace().next().unwrap().to_string();
    let mut jar = Jar::default();
    let (_, _, page) = jar.get(&app, &link).await;
    let (s, _, _) = jar.post(&app, &link, &[("csrf_token", &csrf(&page))]).await;
    assert_eq!(s, 303);

    let path = format!("/portal/tickets/{number}");
    let (s, _, page) = jar.get(&app, &path).await;
    assert_eq!(s, 200);
    assert!(page.contains(r#"id="rating""#) && page.contains(r#"name="score""#), "{page}");
    let rate = format!("{path}/rating");
    let (s, _, _) = jar.post(&app, &rate, &[("score", "2")]).await;
    assert_eq!(s, 403, "no rating without the form's token");
    assert_eq!(rating_of(&app, id).await["score"], Value::Null);
    let (s, _, thanks) = jar.post(&app, &rate, &[("csrf_token", &csrf(&page)), ("score", "2")]).await;
    assert_eq!(s, 200, "{thanks}");
    let rated = rating_of(&app, id).await;
    assert_eq!((rated["score"].as_u64(), rated["callback"].as_bool()), (Some(2), Some(true)), "2 is at callback_below");
    let (_, _, page) = jar.get(&app, &path).await;
    assert!(!page.contains(r#"name="score""#) && (page.contains("您的评分") || page.contains("Your score")), "{page}");
}
