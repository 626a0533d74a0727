//! The edges a security review probed: check secrets stay write-only, probes are bounded in what
//! they match and keep, uploads in what they carry; sessions end with the password; sign-in is
//! limited per account and per client behind trusted proxies only; contacts see only their own
//! customer's tickets and people's display names; text fields refuse hidden characters; e-mail
//! must be authenticated by the receiving MTA when so configured.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, spawn, spawn_with};
use crate::outbound::{Listener, error_of, run_check};
use crate::portal::Jar;
use crate::web::csrf;

const SECRETS: [&str; 3] = ["pa55w0rd-xyz", "k3y-0123456789", "t0ken-abcdef"];

fn shows_no_secret(what: &str, v: &impl ToString) {
    let text = v.to_string();
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows {s}: {text}");
    }
}

#[tokio::test]
async fn check_secrets_are_write_only_and_kept_by_updates_that_leave_them_out() {
    let app = spawn().await;
    let agent = app.staff("agent").await;
    let target = Listener::on("127.0.0.1").await;
    let p = target.port();
    // The target echoes the key and the token back: the result must not store them either.
    target.answer("/health?api_key=k3y-0123456789", 200, "", "DOWN for key k3y-0123456789, token t0ken-abcdef");
    let url = format!("http://ops:pa55w0rd-xyz@127.0.0.1:{p}/health?api_key=k3y-0123456789");
    let spec = json!({"name": "secret-web", "kind": "http", "url": url, "headers": {"Authorization": "Bearer t0ken-abcdef"},
                      "interval": "1m", "conditions": ["[BODY] == pat(UP*)"]});
    let result = run_check(&app, spec).await;
    shows_no_secret("a result", &result);
    assert!(result["observed"].as_str().unwrap().contains("DOWN for key ***, token ***"), "{result}");
    let id = app.get("/api/v1/checks", &app.admin).await.body[0]["id"].as_i64().unwrap();
    let view = app.get(&format!("/api/v1/checks/{id}"), &agent).await.body;
    shows_no_secret("the check", &view);
    assert_eq!(view["spec"]["url"], format!("http://***:***@127.0.0.1:{p}/health?***"));
    assert_eq!(view["spec"]["headers"]["Authorization"], "***");
    let sent = || target.last_request().to_lowercase();
    assert!(sent().contains("authorization: bearer t0ken-abcdef") && sent().contains("api_key=k3y-0123456789"));

    // Changing something else keeps them; so does sending the view's `***` back.
    let r = app
        .call(Method::PATCH, &format!("/api/v1/checks/{id}"), Some(&app.admin), Some(json!({"interval": "2m"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let echo = json!({"url": view["spec"]["url"], "headers": {"Authorization": "***", "Accept": "text/plain"}});
    let r = app.call(Method::PATCH, &format!("/api/v1/checks/{id}"), Some(&app.admin), Some(echo)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    shows_no_secret("the updated check", &r.body);
    app.post(&format!("/api/v1/checks/{id}/run"), &app.admin, json!({})).await;
    assert!(
        sent().contains("authorization: bearer t0ken-abcdef") && sent().contains("accept: text/plain"),
        "{}",
        sent()
    );
    assert!(sent().contains("/health?api_key=k3y-0123456789"), "{}", sent());

    // A view copied into a new check has nothing to keep: refused, not stored as `***`.
    let mut copy = view["spec"].clone();
    copy["name"] = json!("copied");
    let r = app.post("/api/v1/checks", &app.admin, copy).await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (422, Some("headers.Authorization")),
        "{}",
        r.body
    );

    // Error texts: a refused connection and a failed postgres sign-in name no secret.
    // A port nothing listens on, held for the test.
    let reserved = crate::receivers::ReservedPort::new();
    let closed = reserved.port;
    let down = json!({"name": "down-web", "kind": "http", "interval": "1m",
                      "url": format!("http://ops:pa55w0rd-xyz@127.0.0.1:{closed}/x?api_key=k3y-0123456789")});
    let result = run_check(&app, down).await;
    assert!(error_of(&result).contains("could not connect"), "{result}");
    shows_no_secret("a connection error", &result);
    let pg = json!({"name": "db", "kind": "postgres", "interval": "1m",
                    "url": format!("postgres://ops:pa55w0rd-xyz@127.0.0.1:{closed}/app?sslmode=disable")});
    let result = run_check(&app, pg).await;
    shows_no_secret("a postgres error", &result);
    let all = app.get("/api/v1/checks", &agent).await.body;
    shows_no_secret("the list of checks", &all);
    assert!(all.to_string().contains(&format!("postgres://***:***@127.0.0.1:{closed}/app?***")), "{all}");
}

#[tokio::test]
async fn patterns_and_observed_values_are_bounded() {
    let app = spawn().await;
    let target = Listener::on("127.0.0.1").await;
    target.answer("/big", 200, "", &"x".repeat(1 << 20));
    let long = format!("[BODY] == pat({})", "*a".repeat(1000));
    let r = app
        .post("/api/v1/checks", &app.admin, json!({"name": "slow", "kind": "http", "url": "http://127.0.0.1:1/", "interval": "1m", "conditions": [long]}))
        .await;
    assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (422, Some("conditions[0]")), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("at most 200 characters"));
    let spec = json!({"name": "big", "kind": "http", "url": format!("http://127.0.0.1:{}/big", target.port()),
                      "interval": "1m", "conditions": ["[BODY] == UP"]});
    let result = run_check(&app, spec).await;
    let observed = result["observed"].as_str().unwrap();
    assert!(observed.len() <= 4096 + 64, "{} bytes kept", observed.len());
    assert!(observed.ends_with("[truncated: 1048576 bytes in all]"), "{}", &observed[4000..]);
}

fn parts(form: Form, name: &str, n: usize, size: usize, file: bool) -> Form {
    (0..n).fold(form, |f, i| {
        let part = Part::bytes(vec![b'a'; size]);
        f.part(name.to_string(), if file { part.file_name(format!("f{i}.bin")) } else { part })
    })
}

#[tokio::test]
async fn a_multipart_request_is_limited_as_a_whole() {
    let app = spawn_with(Options {
        env: vec![("OPSLINE_ATTACHMENTS__MAX_BYTES".into(), "100000".into())],
        ..Default::default()
    })
    .await;
    let cust = app.customer("Acme", "vip").await;
    let t = app.ticket(cust, "logs attached").await;
    let url = format!("{}/api/v1/tickets/{}/attachments", app.address, t["id"]);
    let send = |form: Form| app.client.post(url.clone()).bearer_auth(&app.admin).multipart(form).send();
    // Thirty files each under the limit, 2.7 MB in all.
    let r = send(parts(Form::new(), "file", 30, 90_000, true)).await.unwrap();
    assert_eq!(r.status(), 413, "{}", r.text().await.unwrap());
    // Forty text fields of 60 KB, and one small file.
    let r = send(
        parts(Form::new(), "visibility", 40, 60_000, false).part("file", Part::bytes(b"x".to_vec()).file_name("x")),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    // More parts than a form has, however small.
    let r = send(parts(Form::new(), "visibility", 40, 1, false)).await.unwrap();
    assert_eq!(r.status(), 413);
    let files = app.get(&format!("/api/v1/tickets/{}/attachments", t["id"]), &app.admin).await.body;
    assert_eq!(files, json!([]), "nothing was stored");
    let r = send(parts(Form::new(), "file", 1, 90_000, true).text("visibility", "internal")).await.unwrap();
    assert_eq!(r.status(), 201, "one file under the limit is taken");
}

/// Signs `username` in through the form, from `client_ip` as a trusted proxy would forward it.
async fn sign_in(app: &TestApp, username: &str, password: &str, client_ip: &str) -> (u16, Jar) {
    let mut jar = Jar::default();
    let (_, _, html) = jar.get(app, "/sign-in").await;
    let body = crate::web::form_body(&[("username", username), ("password", password), ("csrf_token", &csrf(&html))]);
    let res = crate::web::client()
        .post(format!("{}/sign-in", app.address))
        .header("cookie", jar.header())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", client_ip)
        .body(body)
        .send()
        .await
        .unwrap();
    jar.take(&res);
    (res.status().as_u16(), jar)
}

const PASSWORD: &str = "correct horse battery";

async fn user_with_password(app: &TestApp, username: &str) -> i64 {
    let r = app
        .post("/api/v1/users", &app.admin, json!({"username": username, "role": "agent", "password": PASSWORD}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

async fn console_status(app: &TestApp, jar: &mut Jar) -> (u16, String) {
    let (status, location, _) = jar.get(app, "/console").await;
    (status, location)
}

#[tokio::test]
async fn a_password_change_or_deactivation_ends_the_users_web_sessions() {
    let app = spawn().await;
    let id = user_with_password(&app, "wang").await;
    let path = format!("/api/v1/users/{id}");
    let patch = |body: Value| app.call(Method::PATCH, &path, Some(&app.admin), Some(body));
    let (s, mut before) = sign_in(&app, "wang", PASSWORD, "192.0.2.1").await;
    assert_eq!(s, 303);
    assert_eq!(console_status(&app, &mut before).await.0, 200);
    assert_eq!(patch(json!({"password": "a brand new password"})).await.status, 200);
    assert_eq!(console_status(&app, &mut before).await, (303, "/sign-in".to_string()), "the old session ended");

    let (s, mut after) = sign_in(&app, "wang", "a brand new password", "192.0.2.1").await;
    assert_eq!((s, console_status(&app, &mut after).await.0), (303, 200));
    assert_eq!(patch(json!({"active": false})).await.status, 200);
    assert_eq!(patch(json!({"active": true})).await.status, 200);
    assert_eq!(console_status(&app, &mut after).await.0, 303, "reactivation revives no session");
}

fn limits(trusted: &str) -> Options {
    let env = [
        ("OPSLINE_LIMITS__SIGN_IN_PER_MINUTE", "3"),
        ("OPSLINE_LIMITS__FAILED_SIGN_INS_PER_ACCOUNT", "3"),
        ("OPSLINE_HTTP__TRUSTED_PROXIES", trusted),
    ];
    Options { env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies_and_each_account_has_a_budget() {
    // No proxy trusted: a client cannot escape the per-address limit by writing the header.
    let app = spawn_with(limits("[]")).await;
    user_with_password(&app, "wang").await;
    for i in 0..3 {
        assert_eq!(sign_in(&app, &format!("nobody{i}"), "guess", &format!("198.51.100.{i}")).await.0, 401);
    }
    assert_eq!(sign_in(&app, "wang", PASSWORD, "198.51.100.99").await.0, 429);

    // Behind a trusted proxy each client has its own budget…
    let app = spawn_with(limits(r#"["127.0.0.1"]"#)).await;
    user_with_password(&app, "wang").await;
    user_with_password(&app, "li").await;
    for i in 0..3 {
        assert_eq!(sign_in(&app, &format!("nobody{i}"), "guess", "198.51.100.7").await.0, 401);
    }
    assert_eq!(sign_in(&app, "li", PASSWORD, "198.51.100.7").await.0, 429, "that client spent its own");
    // …and each account one of failures, from whatever address they come.
    for i in 10..13 {
        assert_eq!(sign_in(&app, "wang", "guess", &format!("203.0.113.{i}")).await.0, 401);
    }
    assert_eq!(sign_in(&app, "WANG", PASSWORD, "203.0.113.20").await.0, 429, "the right password waits too");
    assert_eq!(sign_in(&app, "li", PASSWORD, "203.0.113.21").await.0, 303, "another account is not held back");
}

#[tokio::test]
async fn contacts_see_their_own_customers_tickets_and_peoples_display_names_only() {
    let app = spawn().await;
    let acme = app.customer("ACME", "vip").await;
    let other = app.customer("Other Corp", "standard").await;
    let (_, acme_contact) = app.contact(acme, "wang@acme.example").await;
    let (_, other_contact) = app.contact(other, "li@other.example").await;
    // An integration's service account opens ACME's ticket; staff link Other Corp's under it.
    let relay = app.post("/api/v1/tokens", &app.admin, json!({"role": "agent", "name": "alert-relay"})).await;
    let relay = relay.body["token"].as_str().unwrap().to_string();
    let r = app
        .post("/api/v1/tickets", &relay, json!({"customer_id": acme, "title": "core switch down", "description": ""}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let parent = r.body["id"].as_i64().unwrap();
    let child = app.ticket(other, "branch offline").await["id"].as_i64().unwrap();
    assert_eq!(app.act(child, "link", &app.admin, json!({"parent_id": parent})).await.status, 200);
    let zhang = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": "zhangw", "display_name": "Zhang Wei", "role": "engineer"}),
        )
        .await
        .body;
    assert_eq!(app.act(parent, "assign", &app.admin, json!({"assignee": zhang["id"], "team": null})).await.status, 200);
    let note = json!({"body": "the DBA dropped the index", "visibility": "internal"});
    assert_eq!(app.act(parent, "comments", &app.admin, note).await.status, 201);

    assert_eq!(app.get(&format!("/api/v1/tickets/{parent}"), &app.admin).await.body["children"], json!([child]));
    let mine = app.get(&format!("/api/v1/tickets/{parent}"), &acme_contact).await.body;
    assert_eq!(mine["children"], json!([]), "{mine}");
    assert_eq!(mine["assignee"], json!({"display_name": "Zhang Wei"}));
    let theirs = app.get(&format!("/api/v1/tickets/{child}"), &other_contact).await.body;
    assert!(theirs["parent_id"].is_null(), "{theirs}");

    let events = app.get(&format!("/api/v1/tickets/{parent}/events"), &acme_contact).await.body;
    let comments = app.get(&format!("/api/v1/tickets/{parent}/comments"), &acme_contact).await.body;
    for text in [events.to_string(), comments.to_string()] {
        for hidden in ["alert-relay", "zhangw", "DBA", &format!("{child}\"")] {
            assert!(!text.contains(hidden), "a contact sees {hidden}: {text}");
        }
    }
    let opened = &events.as_array().unwrap()[0];
    assert_eq!(
        (opened["actor_name"].as_str(), opened["actor_kind"].as_str()),
        (Some("Opsline"), Some("system")),
        "{opened}"
    );
    assert!(opened["actor_id"].is_null());
    // Staff still read the log as recorded.
    let staff_view = app.get(&format!("/api/v1/tickets/{parent}/events"), &app.admin).await.body.to_string();
    assert!(staff_view.contains("alert-relay"));
}

#[tokio::test]
async fn odd_input_gets_a_clear_answer() {
    let app = spawn().await;
    let cust = app.customer("Acme", "vip").await;
    let open = |title: &str, description: &str| {
        app.post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": cust, "title": title, "description": description}),
        )
    };
    // Titles are one line without hidden reordering; descriptions may span lines.
    for (title, description) in
        [("two\r\nlines", ""), ("tab\there", ""), ("\u{202E}gnp.exe", ""), ("fine", "a\u{2066}hidden")]
    {
        let r = open(title, description).await;
        assert_eq!(r.status, 422, "{title:?} / {description:?}: {}", r.body);
    }
    assert_eq!(open("disk full", "line one\nline two\tend").await.status, 201);
    // Words are searched for as words; text with no word in it (LIKE's special characters) as
    // written, on SQLite and PostgreSQL alike.
    assert_eq!(open(r"share C:\temp\50%_full", "").await.status, 201);
    for (q, found) in
        [(r"C:\temp\50%_", 1), (r"temp\", 1), ("50%", 1), ("5000", 0), ("_full", 2), ("tempo", 0), ("%_", 1), ("_%", 0)]
    {
        let path = format!("/api/v1/tickets?q={}", crate::web::form_body(&[("x", q)]).trim_start_matches("x="));
        let r = app.get(&path, &app.admin).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        assert_eq!(r.body["items"].as_array().unwrap().len(), found, "{q}");
    }
    let r = app
        .post(
            "/api/v1/sla/preview",
            &app.admin,
            json!({"customer_id": cust, "level": "I", "opened_at": "9999-12-31T23:00:00Z"}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (422, Some("opened_at")), "{}", r.body);
    // Who may comes before what was sent.
    let engineer = app.staff("engineer").await;
    assert_eq!(app.post("/api/v1/checks", &engineer, json!({"kind": "nonsense"})).await.status, 403);
    assert_eq!(app.post("/api/v1/customers", &engineer, json!([1, 2])).await.status, 403);
    // Browsers ask for an icon on every page.
    let icon = app.client.get(format!("{}/favicon.ico", app.address)).send().await.unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"].to_str().unwrap(), "image/svg+xml; charset=utf-8");
}

fn mail(auth_results: &[&str]) -> String {
    let headers: String = auth_results.iter().map(|r| format!("Authentication-Results: {r}\r\n")).collect();
    format!(
        "{headers}From: Ann <ann@acme.example>\r\nTo: support@opsline.example\r\nSubject: printer error\r\n\
         Message-ID: <{}@acme.example>\r\nDate: Tue, 20 Oct 2026 10:00:00 +0800\r\n\r\nE42 again.\r\n",
        uuid::Uuid::new_v4().simple()
    )
}

#[tokio::test]
async fn mail_from_a_contact_needs_the_receiving_servers_word_when_so_configured() {
    let env = vec![
        ("OPSLINE_INTEGRATIONS__EMAIL__REQUIRE_AUTH_RESULTS".into(), "true".into()),
        ("OPSLINE_INTEGRATIONS__EMAIL__AUTHSERV_ID".into(), "mx.opsline.example".into()),
    ];
    let app = spawn_with(Options { env, ..Default::default() }).await;
    let cust = app.customer("ACME", "vip").await;
    app.contact(cust, "ann@acme.example").await;
    let key = app.integration_key(cust, json!({"kind": "email"})).await;
    let send = |raw: String| {
        app.client
            .post(format!("{}/api/v1/integrations/email", app.address))
            .bearer_auth(&key)
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
    };
    for refused in [
        mail(&[]),
        mail(&["mx.opsline.example; spf=pass smtp.mailfrom=acme.example; dkim=fail header.d=acme.example"]),
        mail(&["relay.elsewhere.example; dmarc=pass header.from=acme.example"]),
        mail(&[
            "mx.opsline.example; dmarc=fail header.from=acme.example",
            "mx.opsline.example; dmarc=pass header.from=acme.example",
        ]),
    ] {
        let r = send(refused).await.unwrap();
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "Authentication-Results", "{body}");
    }
    assert_eq!(app.get("/api/v1/tickets", &app.admin).await.body["items"], json!([]), "nothing was opened");
    let r = send(mail(&["mx.opsline.example; dmarc=pass (p=reject) header.from=acme.example"])).await.unwrap();
    assert_eq!(r.status(), 201, "opened");
    let r =
        send(mail(&["mx.opsline.example; spf=pass smtp.mailfrom=ann@acme.example; dkim=pass header.d=acme.example"]))
            .await
            .unwrap();
    assert_eq!(r.status(), 201, "opened");
}
