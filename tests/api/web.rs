//! The pages over HTTP: staff sign-in with a password, the signed session cookie, CSRF on every
//! form, the console queue, sign-out, rate-limited sign-in, and both languages.

use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::{Options, TestApp, spawn_with};

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// `name=value` of a Set-Cookie header named `name`, and the whole header.
pub fn cookie(res: &reqwest::Response, name: &str) -> Option<(String, String)> {
    res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|h| {
        let pair = h.split(';').next()?.trim();
        pair.starts_with(&format!("{name}=")).then(|| (pair.to_string(), h.to_string()))
    })
}

/// `application/x-www-form-urlencoded`, as a browser sends a form.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    let enc = |v: &str| {
        v.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

pub fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf_token\" value=\"").expect("a csrf_token field") + 25;
    html[at..].split('"').next().unwrap().to_string()
}

async fn agent_with_password(app: &TestApp) {
    let r = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "li", "role": "agent", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// The sign-in form: its CSRF cookie and token.
async fn form(app: &TestApp, lang: &str) -> (String, String, String) {
    let res = client().get(format!("{}/sign-in", app.address)).header("accept-language", lang).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (c, _) = cookie(&res, "opsline_form").expect("the form's cookie");
    let html = res.text().await.unwrap();
    (c, csrf(&html), html)
}

async fn post_sign_in(app: &TestApp, cookie: &str, token: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{}/sign-in", app.address))
        .header("cookie", cookie)
        .header("accept-language", "en")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("username", "li"), ("password", password), ("csrf_token", token)]))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn staff_sign_in_see_the_queue_and_sign_out_with_csrf_on_every_form() {
    let app = spawn_with(Options::default()).await;
    agent_with_password(&app).await;
    let cust = app.customer("ACME Bank", "vip").await;
    let ticket = app.ticket(cust, "系统崩溃，业务中断").await;

    let (c, token, html) = form(&app, "zh-CN,zh;q=0.9").await;
    assert!(html.contains("登录") && html.contains("lang=\"zh-CN\""), "Chinese by Accept-Language");
    let wrong = post_sign_in(&app, &c, &token, "wrong").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Wrong username or password"));
    let forged = post_sign_in(&app, "opsline_form=forged.00", &token, "correct horse battery").await;
    assert_eq!(forged.status(), 403, "no sign-in without the form's own token");

    let ok = post_sign_in(&app, &c, &token, "correct horse battery").await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/console");
    let (session, header) = cookie(&ok, "opsline_session").expect("a session cookie");
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Lax"), "{header}");
    assert!(!header.contains(&app.admin) && !session.contains("opl_"), "never an API token");

    let get = |path: &'static str, cookie: String| {
        client().get(format!("{}{path}", app.address)).header("cookie", cookie).header("accept-language", "en").send()
    };
    let page = get("/console", session.clone()).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains(ticket["number"].as_str().unwrap()) && html.contains("data-due="), "{html}");
    assert!(html.contains("ACME Bank") && html.contains("Times shown in Asia&#x2f;Shanghai"), "{html}");
    let js = get("/static/console.js", String::new()).await.unwrap();
    assert_eq!(js.status(), 200);

    // A tampered cookie is no session.
    let tampered = session.replace('.', "x.");
    assert_eq!(get("/console", tampered).await.unwrap().status(), 303);

    let csrf_token = csrf(&html);
    let out = |token: &str| {
        client()
            .post(format!("{}/sign-out", app.address))
            .header("cookie", session.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("csrf_token", token)]))
            .send()
    };
    assert_eq!(out("not-the-token").await.unwrap().status(), 403, "a form without its token is refused");
    assert_eq!(get("/console", session.clone()).await.unwrap().status(), 200, "still signed in");
    assert_eq!(out(&csrf_token).await.unwrap().status(), 303);
    let after = get("/console", session.clone()).await.unwrap();
    assert_eq!((after.status().as_u16(), after.headers()["location"].to_str().unwrap()), (303, "/sign-in"));
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let app = spawn_with(Options {
        env: vec![("OPSLINE_LIMITS__SIGN_IN_PER_MINUTE".into(), "3".into())],
        ..Default::default()
    })
    .await;
    agent_with_password(&app).await;
    let (c, token, _) = form(&app, "en").await;
    for _ in 0..3 {
        assert_eq!(post_sign_in(&app, &c, &token, "guess").await.status(), 401);
    }
    let r = post_sign_in(&app, &c, &token, "correct horse battery").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many attempts"));
}
