//! The portal and the status page over HTTP: a contact signs in with an e-mailed one-time link
//! (single use, its GET only shows a button), sets a password, sees their own customer's tickets
//! only, comments with a file, confirms, opens a ticket; the console's new-ticket form, lookup,
//! classification and quotes; the public status page shows only what is public.

use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, spawn_with};
use crate::receivers::SmtpServer;
use crate::web::{client, csrf, form_body};

async fn deliver(app: &TestApp) {
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
}

/// A browser's cookie jar, by hand: name=value pairs sent back on every request.
#[derive(Default, Clone)]
pub struct Jar(Vec<String>);

impl Jar {
    pub fn take(&mut self, res: &reqwest::Response) {
        for h in res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let pair = h.split(';').next().unwrap().trim().to_string();
            let name = pair.split('=').next().unwrap().to_string();
            self.0.retain(|p| !p.starts_with(&format!("{name}=")));
            if !h.contains("Max-Age=0") && !pair.ends_with('=') {
                self.0.push(pair);
            }
        }
    }

    pub fn header(&self) -> String {
        self.0.join("; ")
    }

    pub async fn get(&mut self, app: &TestApp, path: &str) -> (u16, String, String) {
        let res = client()
            .get(format!("{}{path}", app.address))
            .header("cookie", self.header())
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        self.take(&res);
        let loc = res.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
        (res.status().as_u16(), loc, res.text().await.unwrap())
    }

    pub async fn post(&mut self, app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> (u16, String, String) {
        let res = client()
            .post(format!("{}{path}", app.address))
            .header("cookie", self.header())
            .header("accept-language", "en")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(pairs))
            .send()
            .await
            .unwrap();
        self.take(&res);
        let loc = res.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
        (res.status().as_u16(), loc, res.text().await.unwrap())
    }

    pub async fn multipart(
        &mut self,
        app: &TestApp,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> (u16, String, String) {
        let res = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap()
            .post(format!("{}{path}", app.address))
            .header("cookie", self.header())
            .header("accept-language", "en")
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.take(&res);
        let loc = res.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
        (res.status().as_u16(), loc, res.text().await.unwrap())
    }
}

/// A staff member with a password, signed in through the form.
pub async fn staff_session(app: &TestApp, username: &str, role: &str) -> (Jar, String) {
    let r = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"username": username, "role": role, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut jar = Jar::default();
    let (_, _, html) = jar.get(app, "/sign-in").await;
    let (s, loc, _) = jar
        .post(
            app,
            "/sign-in",
            &[("username", username), ("password", "correct horse battery"), ("csrf_token", &csrf(&html))],
        )
        .await;
    assert_eq!((s, loc.as_str()), (303, "/console"));
    let (_, _, page) = jar.get(app, "/console").await;
    (jar, csrf(&page))
}

/// The path of the link in the last mail to `to`.
fn link_in_mail(smtp: &SmtpServer, to: &str) -> String {
    let mail =
        smtp.mails().into_iter().rev().find(|m| m.to.iter().any(|t| t.contains(to))).expect("a mail to the contact");
    let text = mail.text();
    let at = text.find("/portal/link/").expect("a link in the mail");
    text[at..].split_whitespace().next().unwrap().to_string()
}

/// ACME Bank with its contact Wang, and a ticket each for ACME and for Other Corp.
struct Portal {
    app: TestApp,
    smtp: SmtpServer,
    acme: i64,
    mine: Value,
    theirs: Value,
}

impl Portal {
    fn mine_no(&self) -> &str {
        self.mine["number"].as_str().unwrap()
    }

    fn theirs_no(&self) -> &str {
        self.theirs["number"].as_str().unwrap()
    }
}

const PASSWORD: &str = "a long portal password";

async fn acme_and_other_corp_with_a_ticket_each() -> Portal {
    let smtp = SmtpServer::start().await;
    let env = vec![
        ("OPSLINE_EMAIL__SMTP_URL".into(), smtp.url()),
        // This test signs in more often in a minute than the default allows one address.
        ("OPSLINE_LIMITS__SIGN_IN_PER_MINUTE".into(), "1000".into()),
    ];
    let app = spawn_with(Options { env, ..Default::default() }).await;
    let acme = app.customer("ACME Bank", "vip").await;
    let (_, _) = app.contact(acme, "wang@acme.example").await;
    let other = app.customer("Other Corp", "standard").await;
    let mine = app.ticket(acme, "Reports are slow").await;
    let theirs = app.ticket(other, "Their secret outage").await;
    Portal { app, smtp, acme, mine, theirs }
}

#[tokio::test]
async fn contacts_sign_in_by_one_time_link_and_password_and_see_only_their_own_tickets() {
    let p = acme_and_other_corp_with_a_ticket_each().await;
    let link = a_set_password_link_is_mailed_to_a_known_contact_only(&p).await;
    let mut visitor = the_link_shows_a_form_to_anyone_and_sets_a_password_once(&p.app, &link).await;
    they_see_their_own_tickets_only(&p, &mut visitor).await;
    a_comment_with_a_file_reaches_the_ticket(&p, &mut visitor).await;
    a_form_without_its_token_changes_nothing(&p, &mut visitor).await;
    a_ticket_opened_in_the_portal_is_classified(&p, &mut visitor).await;
    they_sign_out_and_in_again_with_the_password_only(&p.app, &mut visitor).await;
    let mut j = a_one_time_sign_in_link_works_once(&p).await;
    upkeep_forgets_expired_sessions_and_links(&p.app, &mut j).await;
}

/// Ask for a set-password link; an unknown address gets the same answer and no mail.
async fn a_set_password_link_is_mailed_to_a_known_contact_only(p: &Portal) -> String {
    let app = &p.app;
    let mut jar = Jar::default();
    let (s, _, html) = jar.get(app, "/portal/sign-in").await;
    assert_eq!(s, 200);
    let token = csrf(&html);
    let (s, _, unknown) = jar
        .post(app, "/portal/link", &[("email", "nobody@acme.example"), ("purpose", "password"), ("csrf_token", &token)])
        .await;
    assert_eq!(s, 200);
    assert!(unknown.contains("If the address is known"), "{unknown}");
    let (_, _, html) = jar.get(app, "/portal/sign-in").await;
    let (s, _, known) = jar
        .post(
            app,
            "/portal/link",
            &[("email", "WANG@acme.example"), ("purpose", "password"), ("csrf_token", &csrf(&html))],
        )
        .await;
    assert_eq!(s, 200);
    assert!(known.contains("If the address is known"));
    let (s, _, _) = jar.post(app, "/portal/link", &[("email", "wang@acme.example"), ("purpose", "password")]).await;
    assert_eq!(s, 403, "no link without the form's token");
    deliver(app).await;
    assert_eq!(p.smtp.mails().len(), 1, "one mail, to the known contact only");
    link_in_mail(&p.smtp, "wang@acme.example")
}

/// The GET shows a form and uses nothing (mail scanners fetch links); the POST uses the link.
async fn the_link_shows_a_form_to_anyone_and_sets_a_password_once(app: &TestApp, link: &str) -> Jar {
    let mut visitor = Jar::default();
    for _ in 0..2 {
        let (s, _, page) = visitor.get(app, link).await;
        assert_eq!(s, 200);
        assert!(page.contains("name=\"password_again\""), "{page}");
    }
    let (_, _, page) = visitor.get(app, link).await;
    let t = csrf(&page);
    let (s, _, differ) = visitor
        .post(app, link, &[("csrf_token", &t), ("password", "first password!"), ("password_again", "second")])
        .await;
    assert_eq!(s, 422);
    assert!(differ.contains("The two passwords differ"));
    let (_, _, page) = visitor.get(app, link).await;
    let t = csrf(&page);
    let (s, _, _) =
        visitor.post(app, link, &[("csrf_token", &t), ("password", "short"), ("password_again", "short")]).await;
    assert_eq!(s, 422, "a password has at least 10 characters");
    let (_, _, page) = visitor.get(app, link).await;
    let t = csrf(&page);
    let pw = PASSWORD;
    let (s, loc, _) = visitor.post(app, link, &[("csrf_token", &t), ("password", pw), ("password_again", pw)]).await;
    assert_eq!((s, loc.as_str()), (303, "/portal"));
    let (s, _, again) = Jar::default().get(app, link).await;
    assert_eq!(s, 410, "a link works once: {again}");
    visitor
}

/// Their tickets only, with the clocks in words; another customer's ticket is not found.
async fn they_see_their_own_tickets_only(p: &Portal, visitor: &mut Jar) {
    let (app, theirs) = (&p.app, &p.theirs);
    let (mine_no, theirs_no) = (p.mine_no(), p.theirs_no());
    let (s, _, list) = visitor.get(app, "/portal").await;
    assert_eq!(s, 200);
    assert!(list.contains(mine_no) && !list.contains(theirs_no) && !list.contains("Their secret outage"), "{list}");
    assert!(list.contains("response due"), "{list}");
    for path in [
        format!("/portal/tickets/{theirs_no}"),
        format!("/console/tickets/{theirs_no}"),
        format!("/portal/tickets/{}/attachments/1", theirs["id"]),
    ] {
        let (s, loc, body) = visitor.get(app, &path).await;
        let (s, body) = if s == 303 {
            let (s, _, b) = visitor.get(app, &loc).await;
            (s, b)
        } else {
            (s, body)
        };
        assert_eq!(s, 404, "{path}");
        assert!(!body.contains("Their secret outage"));
    }
    let (s, loc, _) = visitor.get(app, "/console").await;
    assert_eq!((s, loc.as_str()), (303, "/portal"), "no console for contacts");
}

/// A comment with a file, through the form; the API sees both.
async fn a_comment_with_a_file_reaches_the_ticket(p: &Portal, visitor: &mut Jar) {
    let (app, mine, mine_no) = (&p.app, &p.mine, p.mine_no());
    let (_, _, page) = visitor.get(app, &format!("/portal/tickets/{mine_no}")).await;
    let t = csrf(&page);
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", t.clone())
        .text("body", "Here are the logs.")
        .part("file", reqwest::multipart::Part::bytes(b"log line\n".to_vec()).file_name("app.log"));
    let (s, loc, _) = visitor.multipart(app, &format!("/portal/tickets/{mine_no}/comment"), form).await;
    assert_eq!((s, loc), (303, format!("/portal/tickets/{mine_no}")));
    let comments = app.get(&format!("/api/v1/tickets/{}/comments", mine["id"]), &app.admin).await.body;
    assert!(comments.to_string().contains("Here are the logs."), "{comments}");
    let files = app.get(&format!("/api/v1/tickets/{}/attachments", mine["id"]), &app.admin).await.body;
    assert_eq!(files[0]["filename"], "app.log");
    let (s, _, page) = visitor.get(app, &format!("/portal/tickets/{mine_no}")).await;
    assert_eq!(s, 200);
    assert!(page.contains("Here are the logs.") && page.contains("app.log"));
}

async fn a_form_without_its_token_changes_nothing(p: &Portal, visitor: &mut Jar) {
    let mine_no = p.mine_no();
    let (s, _, _) = visitor.post(&p.app, &format!("/portal/tickets/{mine_no}/act"), &[("action", "confirm")]).await;
    assert_eq!(s, 403);
}

/// A new ticket from the portal: source portal, level classified.
async fn a_ticket_opened_in_the_portal_is_classified(p: &Portal, visitor: &mut Jar) {
    let (app, acme) = (&p.app, p.acme);
    let (_, _, page) = visitor.get(app, "/portal/new").await;
    let (s, loc, _) = visitor
        .post(
            app,
            "/portal/new",
            &[("csrf_token", &csrf(&page)), ("title", "Database down"), ("description", "outage since noon")],
        )
        .await;
    assert_eq!(s, 303);
    let number = loc.rsplit('/').next().unwrap();
    let t = app.get(&format!("/api/v1/tickets/{number}"), &app.admin).await.body;
    assert_eq!(
        (t["source"].as_str(), t["level"].as_str(), t["customer"]["id"].as_i64()),
        (Some("portal"), Some("I"), Some(acme))
    );
}

/// Sign out; sign in again with the password; a wrong one is refused.
async fn they_sign_out_and_in_again_with_the_password_only(app: &TestApp, visitor: &mut Jar) {
    let pw = PASSWORD;
    let (_, _, page) = visitor.get(app, "/portal").await;
    let (s, loc, _) = visitor.post(app, "/sign-out", &[("csrf_token", &csrf(&page))]).await;
    assert_eq!((s, loc.as_str()), (303, "/portal/sign-in"));
    let (_, _, html) = visitor.get(app, "/portal/sign-in").await;
    let (s, _, wrong) = visitor
        .post(
            app,
            "/portal/sign-in",
            &[("email", "wang@acme.example"), ("password", "nope"), ("csrf_token", &csrf(&html))],
        )
        .await;
    assert_eq!(s, 401);
    assert!(wrong.contains("Wrong e-mail address or password"));
    let (_, _, html) = visitor.get(app, "/portal/sign-in").await;
    let (s, loc, _) = visitor
        .post(app, "/portal/sign-in", &[("email", "wang@acme.example"), ("password", pw), ("csrf_token", &csrf(&html))])
        .await;
    assert_eq!((s, loc.as_str()), (303, "/portal"));
}

/// A one-time sign-in link works too, once.
async fn a_one_time_sign_in_link_works_once(p: &Portal) -> Jar {
    let app = &p.app;
    let (_, _, html) = Jar::default().get(app, "/portal/sign-in").await;
    let mut j = Jar::default();
    let (_, _, html2) = j.get(app, "/portal/sign-in").await;
    let _ = html;
    j.post(
        app,
        "/portal/link",
        &[("email", "wang@acme.example"), ("purpose", "sign_in"), ("csrf_token", &csrf(&html2))],
    )
    .await;
    deliver(app).await;
    let link = link_in_mail(&p.smtp, "wang@acme.example");
    let (_, _, page) = j.get(app, &link).await;
    assert!(!page.contains("password_again"));
    let (s, loc, _) = j.post(app, &link, &[("csrf_token", &csrf(&page))]).await;
    assert_eq!((s, loc.as_str()), (303, "/portal"));
    let (s, _, _) = j.post(app, &link, &[("csrf_token", &csrf(&page))]).await;
    assert_eq!(s, 410);
    j
}

/// Upkeep forgets expired sessions and links.
async fn upkeep_forgets_expired_sessions_and_links(app: &TestApp, j: &mut Jar) {
    use opsline::persistence::entities::{contact_link, web_session};
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(contact_link::Entity::find().count(&app.state.db).await.unwrap(), 2);
    app.clock.advance(chrono::Duration::days(2));
    let o = opsline::services::upkeep::run_once(&app.state, app.clock.now()).await.unwrap();
    assert!(o.forgotten >= 4, "{o:?}");
    assert_eq!(contact_link::Entity::find().count(&app.state.db).await.unwrap(), 0);
    assert_eq!(web_session::Entity::find().count(&app.state.db).await.unwrap(), 0);
    let (s, loc, _) = j.get(app, "/portal").await;
    assert_eq!((s, loc.as_str()), (303, "/portal/sign-in"));
}

#[tokio::test]
async fn console_opens_a_ticket_for_a_caller_found_by_phone_and_acts_on_it() {
    let app = spawn_with(Options::default()).await;
    let acme = app.customer("ACME Bank", "vip").await;
    let r = app
        .post(
            &format!("/api/v1/customers/{acme}/contacts"),
            &app.admin,
            json!({"name": "Wang Fang", "email": "wang@acme.example", "phone": "+86 138-0013-8000"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let contact_id = r.body["id"].as_i64().unwrap();
    let (mut jar, token) = staff_session(&app, "li", "engineer").await;

    the_console_finds_the_caller_classifies_and_quotes(&app, &mut jar, acme, contact_id).await;
    let (loc, number) =
        the_new_ticket_form_opens_one_ticket_with_its_file(&app, &mut jar, &token, acme, contact_id).await;
    the_ticket_page_takes_a_response_and_shows_its_timeline(&app, &mut jar, &token, &loc, &number).await;
    an_agent_may_not_resolve_but_finds_the_ticket_in_the_queue(&app, &loc, &number).await;
}

async fn the_console_finds_the_caller_classifies_and_quotes(app: &TestApp, jar: &mut Jar, acme: i64, contact_id: i64) {
    let (s, _, found) = jar.get(app, "/console/lookup?q=0013800").await;
    assert_eq!(s, 200);
    let found: Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found["contacts"][0]["id"].as_i64(), Some(contact_id), "{found}");
    assert_eq!(found["contacts"][0]["customer"], "ACME Bank");
    let (_, _, by_name) = jar.get(app, "/console/lookup?q=acme").await;
    assert!(by_name.contains("ACME Bank"));
    let (_, _, c) = jar.get(app, "/console/classify?title=core%20system%20down&description=").await;
    let c: Value = serde_json::from_str(&c).unwrap();
    assert_eq!((c["level"].as_str(), c["matched"][0].as_str()), (Some("I"), Some("down")));
    let (s, _, q) =
        jar.get(app, &format!("/console/quote?customer_id={acme}&level=I&opened_at=2026-10-20T02:00:00Z")).await;
    assert_eq!(s, 200, "{q}");
    let q: Value = serde_json::from_str(&q).unwrap();
    assert_eq!(q["response"], "2026-10-20 10:10", "VIP, 24×7, shown in Asia/Shanghai: {q}");
}

/// Returns the ticket page's path and the ticket's number.
async fn the_new_ticket_form_opens_one_ticket_with_its_file(
    app: &TestApp,
    jar: &mut Jar,
    token: &str,
    acme: i64,
    contact_id: i64,
) -> (String, String) {
    let (_, _, page) = jar.get(app, "/console/new").await;
    let form_id = page.split("name=\"form_id\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let form = |t: &str| {
        reqwest::multipart::Form::new()
            .text("csrf_token", t.to_string())
            .text("form_id", form_id.clone())
            .text("reported_at", "2026-10-20T01:58:00Z")
            .text("customer_id", acme.to_string())
            .text("contact_id", contact_id.to_string())
            .text("title", "Core system down")
            .text("description", "outage at all branches")
            .text("level", "")
            .part("file", reqwest::multipart::Part::bytes(b"trace".to_vec()).file_name("trace.txt"))
    };
    let (s, _, _) = jar.multipart(app, "/console/new", form("forged")).await;
    assert_eq!(s, 403);
    assert_eq!(
        app.get("/api/v1/tickets", &app.admin).await.body["items"].as_array().unwrap().len(),
        0,
        "refused: nothing written"
    );
    let (s, loc, _) = jar.multipart(app, "/console/new", form(token)).await;
    assert_eq!(s, 303);
    let (s2, loc2, _) = jar.multipart(app, "/console/new", form(token)).await;
    assert_eq!((s2, &loc2), (303, &loc), "a double submit opens one ticket");
    let number = loc.rsplit('/').next().unwrap().to_string();
    let t = app.get(&format!("/api/v1/tickets/{number}"), &app.admin).await.body;
    assert_eq!(t["level"], "I");
    assert_eq!(t["source"], "hotline");
    assert_eq!(t["contact"]["id"].as_i64(), Some(contact_id));
    assert_eq!(t["reported_at"], "2026-10-20T01:58:00Z", "reported_at is when the form was opened");
    let files = app.get(&format!("/api/v1/tickets/{number}/attachments"), &app.admin).await.body;
    assert_eq!(files[0]["filename"], "trace.txt");
    (loc, number)
}

async fn the_ticket_page_takes_a_response_and_shows_its_timeline(
    app: &TestApp,
    jar: &mut Jar,
    token: &str,
    loc: &str,
    number: &str,
) {
    let (s, _, page) = jar.get(app, loc).await;
    assert_eq!(s, 200);
    assert!(
        page.contains("How this deadline was reached")
            && page.contains("action-respond")
            && page.contains("action-resolve")
    );
    let version = page.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let (s, back, _) = jar
        .post(
            app,
            &format!("{loc}/act"),
            &[("csrf_token", token), ("action", "respond"), ("text", "on it"), ("version", &version)],
        )
        .await;
    assert_eq!((s, back.as_str()), (303, loc));
    let t = app.get(&format!("/api/v1/tickets/{number}"), &app.admin).await.body;
    assert_eq!(t["status"], "in_progress");
    let (_, _, zh) = jar.get(app, &format!("{loc}?lang=zh-CN")).await;
    assert!(zh.contains("已创建") && zh.contains("已响应") && zh.contains("附件"), "the timeline in Chinese: {zh}");
    assert_eq!(zh.matches("trace.txt").count(), 1, "a file is listed once");
    let (s, _, conflict) =
        jar.post(app, &format!("{loc}/act"), &[("csrf_token", token), ("action", "respond"), ("text", "again")]).await;
    assert_eq!(s, 409, "{conflict}");
    let (s, _, _) = jar.post(app, &format!("{loc}/act"), &[("action", "resolve"), ("text", "x")]).await;
    assert_eq!(s, 403, "no token, no action");
    assert_eq!(app.get(&format!("/api/v1/tickets/{number}"), &app.admin).await.body["status"], "in_progress");
}

/// An agent may not resolve: the page says why and nothing changes.
async fn an_agent_may_not_resolve_but_finds_the_ticket_in_the_queue(app: &TestApp, loc: &str, number: &str) {
    let (mut agent, agent_token) = staff_session(app, "zhao", "agent").await;
    let (s, _, _) = agent
        .post(app, &format!("{loc}/act"), &[("csrf_token", &agent_token), ("action", "resolve"), ("text", "x")])
        .await;
    assert_eq!(s, 403);
    let (_, _, queue) = agent.get(app, "/console?level=I").await;
    assert!(queue.contains(number));
    let (_, _, filtered) = agent.get(app, "/console?level=IV").await;
    assert!(!filtered.contains(number));
}

#[tokio::test]
async fn the_status_page_shows_public_checks_and_public_titles_and_nothing_about_customers() {
    let app = spawn_with(Options::default()).await;
    let acme = app.customer("ACME Bank", "vip").await;
    let url = format!("{}/health/live", app.address);
    for (name, tags, public) in [("bank-web", json!(["public"]), Some("Online banking")), ("bank-db", json!([]), None)]
    {
        let mut body =
            json!({"name": name, "kind": "http", "url": url, "interval": "1m", "tags": tags, "customer_id": acme});
        if let Some(p) = public {
            body["public_name"] = json!(p);
        }
        let r = app.post("/api/v1/checks", &app.admin, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = app.post(&format!("/api/v1/checks/{}/run", r.body["id"]), &app.admin, json!({})).await;
        assert!(r.status.is_success(), "{}", r.body);
    }
    let t = app.ticket(acme, "Core banking secret description").await;
    let number = t["number"].as_str().unwrap();
    let (mut jar, token) = staff_session(&app, "li", "engineer").await;
    let (s, _, _) = jar
        .post(
            &app,
            &format!("/console/tickets/{number}/public-title"),
            &[("csrf_token", &token), ("public_title", "Online banking slow")],
        )
        .await;
    assert_eq!(s, 303);

    let (s, _, page) = Jar::default().get(&app, "/status").await;
    assert_eq!(s, 200);
    assert!(page.contains("Online banking") && page.contains("Online banking slow"), "{page}");
    assert!(page.contains("100.00%"), "uptime from the rollups: {page}");
    assert_eq!(page.matches("class=\"d d-").count(), 90, "90 daily bars");
    for secret in ["bank-db", "bank-web", "ACME", number, "secret description"] {
        assert!(!page.contains(secret), "the status page shows {secret}");
    }
    let events = app.get(&format!("/api/v1/tickets/{number}/events"), &app.admin).await.body;
    assert!(events.to_string().contains("public_title"), "recorded in the ticket's events");

    // Cleared, the incident leaves the page.
    jar.post(&app, &format!("/console/tickets/{number}/public-title"), &[("csrf_token", &token), ("public_title", "")])
        .await;
    let (_, _, page) = Jar::default().get(&app, "/status").await;
    assert!(!page.contains("Online banking slow"));
}

#[tokio::test]
async fn dead_letters_show_their_attempts_in_the_console_and_a_lead_retries_them() {
    let r = crate::escalation::rig().await;
    r.hooks.answer_with(&[400]);
    let t = crate::escalation::vip_ticket(&r.app, "I").await;
    crate::escalation::tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    let dead = r.app.get("/api/v1/notifications?status=dead", &r.app.admin).await.body;
    let id = dead[0]["id"].as_i64().unwrap();

    let (mut engineer, _) = staff_session(&r.app, "wu", "engineer").await;
    let (s, _, page) = engineer.get(&r.app, "/console/notifications").await;
    assert_eq!(s, 200);
    assert!(page.contains(&format!("#{id}")) && page.contains("rejected") && page.contains("400"), "{page}");
    assert!(!page.contains("/retry"), "retry is for leads");
    let (mut lead, token) = staff_session(&r.app, "zhou", "lead").await;
    let (s, _, _) = lead.post(&r.app, &format!("/console/notifications/{id}/retry"), &[("csrf_token", "wrong")]).await;
    assert_eq!(s, 403);
    let (s, loc, _) = lead.post(&r.app, &format!("/console/notifications/{id}/retry"), &[("csrf_token", &token)]).await;
    assert_eq!((s, loc.as_str()), (303, "/console/notifications?status=pending"));
    crate::escalation::deliver(&r.app).await;
    let (_, _, delivered) = lead.get(&r.app, "/console/notifications?status=delivered").await;
    assert!(delivered.contains(&format!("#{id}")), "{delivered}");

    // The ticket's timeline shows the escalation and its deliveries.
    let (_, _, page) = lead.get(&r.app, &format!("/console/tickets/{}", t["number"].as_str().unwrap())).await;
    assert!(
        page.contains("tl-escalation") && page.contains("tl-delivery") && page.contains("l1-response-warn"),
        "{page}"
    );
}
