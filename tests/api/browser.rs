//! The pages in a real browser (runs once, on PostgreSQL): `.ci/browser/e2e.mjs` drives Debian's
//! Chromium with playwright-core as a hotline agent and a customer would, screenshots every page
//! at 1280 and 375 px and runs axe-core on each. This test seeds the data, serves the app, hands
//! the browser the customer's e-mailed link (through a real SMTP server), runs the script and then
//! checks what the database says happened (the customer's ticket, visit and service report).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::helpers::{Options, Resp, TestApp, spawn_with};
use crate::receivers::SmtpServer;

fn is_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("artifacts").join("browser")
}

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("Chromium is not installed: the test command installs Debian's `chromium` (apt-get install chromium chromium-driver)")
    })
}

/// `npm ci` in `.ci/browser` (playwright-core and axe-core from the npm registry), once.
fn node_modules() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci").join("browser");
    if !dir.join("node_modules").join("playwright-core").is_dir() || !dir.join("node_modules").join("axe-core").is_dir()
    {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js) is installed: the test command installs it");
        assert!(ok.success(), "npm ci in .ci/browser failed");
    }
    dir
}

#[tokio::test]
async fn an_agent_and_a_customer_work_a_fault_in_a_real_browser() {
    if !is_postgres() {
        eprintln!("runs once, on PostgreSQL (TEST_DATABASE_URL)");
        return;
    }
    let dir = node_modules();
    let browser = chromium();
    let smtp = SmtpServer::start().await;
    // The customer hears by mail when the engineer is on the way.
    let rules =
        "[[escalation.rules]]\nname = \"customer-en-route\"\non = \"en_route\"\nnotify = [\"contact:customer\"]\n";
    let app = spawn_with(Options {
        env: vec![("OPSLINE_EMAIL__SMTP_URL".into(), smtp.url())],
        overlay: Some(rules.into()),
        ..Default::default()
    })
    .await;
    // The app's clock is the real time here: the browser counts down against its own clock.
    app.clock.set(chrono::Utc::now());

    let seed = a_caller_another_customers_ticket_an_engineer_and_a_public_check(&app).await;
    let link = the_customers_set_password_link_arrives_by_mail(&app, &smtp).await;
    let out = artifacts();
    let _ = std::fs::remove_dir_all(&out);
    let seen = the_browser_run_succeeds(&dir, &browser, &app, &link, &seed, &out).await;
    the_database_shows_what_the_browser_did(&app, &seed, &seen).await;
    the_visit_was_booked_worked_and_signed_and_the_customer_heard(&app, &smtp, &seen).await;
    every_page_has_a_screenshot_at_both_widths(&seen, &out);
}

/// What the browser finds: Acme Bank with a caller, Other Corp's ticket, the engineer Li Lei and a
/// public check.
struct Seed {
    acme: i64,
    theirs: Value,
    responded: Resp,
    /// The resolved ticket the new-ticket form suggests.
    similar: String,
}

async fn a_caller_another_customers_ticket_an_engineer_and_a_public_check(app: &TestApp) -> Seed {
    let acme = app.customer("Acme Bank", "vip").await;
    let r = app
        .post(
            &format!("/api/v1/customers/{acme}/contacts"),
            &app.admin,
            json!({"name": "Wang Fang", "email": "wang@acme.example", "phone": "+86 138-0013-8000", "language": "en"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Last week's service report, for the customer to read and acknowledge in the portal.
    let last_week = (chrono::Utc::now() - chrono::Duration::days(8)).format("%Y-%m-%d").to_string();
    let r = app
        .post(
            &format!("/api/v1/customers/{acme}/reports"),
            &app.admin,
            json!({"period": "weekly", "from": last_week, "language": "en"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let other = app.customer("Other Corp", "standard").await;
    let theirs = app.ticket(other, "Other Corp's private fault").await;
    // Responded, so its next deadline is a plan (30 min or more away): the level I fault the agent
    // opens next, due in 10 minutes, tops the queue at any hour. Left open, this ticket's response
    // would fall due seconds before that one's in the business calendar's working hours.
    let responded = app.act(theirs["id"].as_i64().unwrap(), "respond", &app.admin, json!({"message": "looking"})).await;
    assert!(responded.status.is_success(), "{}", responded.body);
    // Last month's fault like the one the agent is about to hear, and its published article.
    let similar = app.ticket(other, "Core banking system down after a database failover").await;
    let resolved = app
        .act(
            similar["id"].as_i64().unwrap(),
            "resolve",
            &app.admin,
            json!({"resolution": "Restarted the core banking service on the standby node."}),
        )
        .await;
    assert!(resolved.status.is_success(), "{}", resolved.body);
    let article = json!({"title": "Core banking unavailable after a failover", "symptom": "Branches cannot reach the core banking service.",
        "resolution": "Restart the core banking service on the new primary.", "visibility": "customer", "language": "en"});
    let a = app.post("/api/v1/kb/articles", &app.admin, article).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let p = app.post(&format!("/api/v1/kb/articles/{}/publish", a.body["id"]), &app.admin, json!({})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let r = app
        .post("/api/v1/users", &app.admin, json!({"username": "li", "display_name": "Li Lei", "role": "engineer", "password": "correct horse battery"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Li Lei is also a field engineer: the dispatcher books him, his phone shows the visit.
    let field = json!({"region": "pudong", "skills": ["core-banking"], "calendar": "24x7"});
    let f = app
        .call(reqwest::Method::PUT, &format!("/api/v1/engineers/{}", r.body["id"]), Some(&app.admin), Some(field))
        .await;
    assert_eq!(f.status, 200, "{}", f.body);
    let check = json!({
        "name": "acme-web", "kind": "http", "url": format!("{}/health/live", app.address), "interval": "1m",
        "tags": ["public"], "public_name": "Online banking", "customer_id": acme,
    });
    let r = app.post("/api/v1/checks", &app.admin, check).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.post(&format!("/api/v1/checks/{}/run", r.body["id"]), &app.admin, json!({})).await;
    assert!(r.status.is_success(), "{}", r.body);
    Seed { acme, theirs, responded, similar: similar["number"].as_str().unwrap().to_string() }
}

/// The customer asked for a set-password link; it arrives by mail.
async fn the_customers_set_password_link_arrives_by_mail(app: &TestApp, smtp: &SmtpServer) -> String {
    opsline::services::contact_links::request(
        &app.state,
        "wang@acme.example",
        opsline::services::contact_links::Purpose::Password,
        app.clock.now(),
    )
    .await
    .unwrap();
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let mail = smtp.mails().pop().expect("the link mail");
    let text = mail.text();
    let at = text.find("/portal/link/").expect("a link");
    format!("{}{}", app.address, text[at..].split_whitespace().next().unwrap())
}

/// Runs `e2e.mjs`; its summary is the last line it prints.
async fn the_browser_run_succeeds(
    dir: &Path,
    browser: &Path,
    app: &TestApp,
    link: &str,
    seed: &Seed,
    out: &Path,
) -> Value {
    let mut cmd = std::process::Command::new("node");
    cmd.arg(dir.join("e2e.mjs"))
        .current_dir(dir)
        .env("BASE", &app.address)
        .env("LINK", link)
        .env("AGENT_USER", "li")
        .env("AGENT_PASSWORD", "correct horse battery")
        .env("CALLER_PHONE", "0013 8000")
        .env("OTHER_TICKET", seed.theirs["number"].as_str().unwrap())
        .env("CHECK_NAME", "Online banking")
        .env("SIMILAR_TICKET", &seed.similar)
        .env("SIMILAR_ARTICLE", "Core banking unavailable after a failover")
        .env("CHECK_ID_NAME", "acme-web")
        .env("ARTIFACTS", out)
        .env("CHROMIUM", browser)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The app serves on this runtime while node runs on a blocking thread.
    let output = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser run failed\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("the run's summary")
}

/// What the browser did is in the database.
async fn the_database_shows_what_the_browser_did(app: &TestApp, seed: &Seed, seen: &Value) {
    let (acme, theirs, responded) = (seed.acme, &seed.theirs, &seed.responded);
    let number = seen["number"].as_str().expect("a ticket number");
    // Typing showed the similar ticket within a second, and its article; the customer answered it.
    assert!(seen["similar_ms"].as_u64().is_some_and(|ms| ms <= 1000), "{seen}");
    assert_eq!((&seen["similar_article"], &seen["answered"]), (&json!(true), &json!(true)), "{seen}");
    let articles = app.get("/api/v1/kb/articles?q=failover", &app.admin).await.body;
    assert_eq!(articles[0]["helpful"].as_i64(), Some(1), "{articles}");
    let t = app.get(&format!("/api/v1/tickets/{number}"), &app.admin).await.body;
    assert_eq!(t["customer"]["id"].as_i64(), Some(acme));
    assert_eq!(t["contact"]["email"], "wang@acme.example", "the caller found by phone");
    assert_eq!((t["level"].as_str(), t["source"].as_str()), (Some("I"), Some("hotline")));
    assert_eq!(t["status"], "closed", "responded, resolved, confirmed by the customer");
    assert_eq!(t["sla"]["response"]["state"], "met");
    let events = app.get(&format!("/api/v1/tickets/{number}/events"), &app.admin).await.body;
    let actors: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["actor_name"].as_str()).collect();
    assert!(actors.contains(&"Wang Fang") && actors.contains(&"Li Lei"), "{actors:?}");
    let inspections = app.get("/api/v1/inspections", &app.admin).await.body;
    assert_eq!(inspections.as_array().map(Vec::len), Some(1), "one inspection, from the button: {inspections}");
    let reports = app.get(&format!("/api/v1/customers/{acme}/reports"), &app.admin).await.body;
    assert_eq!(reports[0]["decision"], "acknowledged", "{reports}");
    assert!(reports[0]["decided_by"].as_str().unwrap().contains("Wang Fang"), "{reports}");
    let theirs_now = app.get(&format!("/api/v1/tickets/{}", theirs["id"]), &app.admin).await.body;
    assert_eq!(theirs_now["status"], "in_progress", "the other customer's ticket untouched");
    assert_eq!(theirs_now["version"], responded.body["version"], "the other customer's ticket untouched");
}

/// The visit the browser booked, worked and had signed: arrival met at "arrived", the signed work
/// order stored with its digest, and the customer's "on the way" mail delivered over SMTP.
async fn the_visit_was_booked_worked_and_signed_and_the_customer_heard(app: &TestApp, smtp: &SmtpServer, seen: &Value) {
    let number = seen["number"].as_str().unwrap();
    let visits = app.get(&format!("/api/v1/tickets/{number}/visits"), &app.admin).await.body;
    let v = &visits[0];
    assert_eq!(v["state"], "signed", "{visits}");
    assert_eq!(v["signer_name"], "Wang Fang");
    assert_eq!(v["work_summary"], "Replaced the failed disk; cluster in sync.");
    assert_eq!(v["parts"][0]["name"], "600 GB SAS disk");
    assert_eq!(v["signature_sha256"].as_str().map(str::len), Some(64));
    let t = app.get(&format!("/api/v1/tickets/{number}"), &app.admin).await.body;
    assert_eq!(t["sla"]["arrival"]["state"], "met", "{}", t["sla"]);
    assert_eq!(t["sla"]["arrival"]["met_at"], v["arrived_at"]);
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let mails = smtp.mails();
    let on_the_way: Vec<_> = mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains("wang@acme.example")) && m.text().contains("on the way"))
        .collect();
    assert_eq!(
        on_the_way.len(),
        1,
        "one 'on the way' mail to the customer: {:?}",
        mails.iter().map(|m| m.header("Subject")).collect::<Vec<_>>()
    );
}

fn every_page_has_a_screenshot_at_both_widths(seen: &Value, out: &Path) {
    let pages = seen["pages"].as_array().unwrap();
    assert!(pages.len() >= 18, "{pages:?}");
    assert_eq!(seen["screenshots"].as_u64(), Some(2 * pages.len() as u64));
    for p in pages {
        let p = p.as_str().unwrap();
        for w in [1280, 375] {
            let shot = out.join(format!("{p}-{w}.png"));
            assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "{}", shot.display());
        }
    }
    eprintln!("browser run: {} pages; screenshots in {}", pages.len(), out.display());
}
