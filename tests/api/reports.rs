//! Customers' service reports: made only of frozen outcomes, so a past period regenerates to the
//! same numbers and the same hash after the SLA policy and the calendar change.

use std::collections::BTreeMap;

use opsline::domain::sla::Outcome;
use opsline::domain::ticket::Event;
use opsline::persistence::entities::{sla_timer, ticket, ticket_event, timer_outcome};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, at, spawn_with};

const LEVELS: [&str; 4] = ["I", "II", "III", "IV"];
const ACTIONS: &[&str] =
    &["respond", "plan", "wait-customer", "resume", "resolve", "close", "reopen", "cancel", "level"];

/// The text of a PDF as a reader extracts it (poppler's `pdftotext`, which the test command
/// installs).
pub fn pdf_text(pdf: &[u8]) -> String {
    use std::io::Write;
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let mut child = std::process::Command::new("pdftotext")
        .args(["-layout", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is installed: the test command installs it");
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pdftotext read the PDF");
    String::from_utf8(out.stdout).unwrap()
}

fn body(action: &str, rng: &mut StdRng) -> Value {
    match action {
        "respond" => json!({"message": "we are on it"}),
        "plan" => json!({"plan": "restart the service"}),
        "wait-customer" | "reopen" | "cancel" => json!({"reason": "because"}),
        "resolve" => json!({"resolution": "restarted"}),
        "level" => {
            let level = LEVELS[rng.random_range(0..4)];
            json!({"level": level, "reason": "reassessed"})
        }
        _ => json!({}),
    }
}

/// A random week of tickets for `customers`: opened at random times, each then pushed through
/// random actions (refused ones included) as the manual clock moves on.
async fn random_week(app: &TestApp, customers: &[i64], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tickets = Vec::new();
    for _ in 0..120 {
        app.clock.advance(chrono::Duration::minutes(rng.random_range(1..100)));
        if tickets.is_empty() || rng.random_range(0..4) == 0 {
            let level = LEVELS[rng.random_range(0..4)];
            let c = customers[rng.random_range(0..customers.len())];
            let r = app
                .post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "fault", "level": level}))
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            tickets.push(r.body["id"].as_i64().unwrap());
            continue;
        }
        let id = tickets[rng.random_range(0..tickets.len())];
        let action = ACTIONS[rng.random_range(0..ACTIONS.len())];
        let b = body(action, &mut rng);
        let r = app.act(id, action, &app.admin, b).await;
        assert!(matches!(r.status.as_u16(), 200 | 409 | 422), "{action}: {} {}", r.status, r.body);
    }
}

fn count(rows: &[timer_outcome::Model], level: &str, timer: &str, outcome: Outcome) -> u64 {
    rows.iter().filter(|o| o.level.as_str() == level && o.kind.as_str() == timer && o.outcome == outcome).count() as u64
}

/// Every number of `report` against counts over the database's frozen rows and the log.
async fn check_against_the_database(app: &TestApp, customer: i64, report: &Value) {
    let c = &report["content"];
    let start = at(c["period"]["start"].as_str().unwrap());
    let end = at(c["period"]["end"].as_str().unwrap());
    let rows: Vec<timer_outcome::Model> = timer_outcome::Entity::find()
        .filter(timer_outcome::Column::CustomerId.eq(customer))
        .filter(timer_outcome::Column::FinishedAt.gte(start))
        .filter(timer_outcome::Column::FinishedAt.lt(end))
        .all(&app.state.db)
        .await
        .unwrap();
    for row in c["compliance"].as_array().unwrap() {
        let (level, timer) = (row["level"].as_str().unwrap(), row["timer"].as_str().unwrap());
        for (key, outcome) in [
            ("in_time", Outcome::InTime),
            ("late", Outcome::Late),
            ("breached", Outcome::Breached),
            ("auto_resolved", Outcome::AutoResolved),
            ("cancelled", Outcome::Cancelled),
        ] {
            assert_eq!(row[key].as_u64(), Some(count(&rows, level, timer, outcome)), "{level} {timer} {key}");
        }
        assert_eq!(row["open"], 0, "a frozen report has no running timers");
    }
    let missed = rows.iter().filter(|o| matches!(o.outcome, Outcome::Late | Outcome::Breached)).count();
    assert_eq!(c["breaches"].as_array().unwrap().len(), missed);
    let ours: Vec<i64> = ticket::Entity::find()
        .filter(ticket::Column::CustomerId.eq(customer))
        .all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    let events = |action: Event| {
        let ours = ours.clone();
        async move {
            ticket_event::Entity::find()
                .filter(ticket_event::Column::Action.eq(action))
                .filter(ticket_event::Column::TicketId.is_in(ours))
                .filter(ticket_event::Column::CreatedAt.gte(start))
                .filter(ticket_event::Column::CreatedAt.lt(end))
                .all(&app.state.db)
                .await
                .unwrap()
                .len() as u64
        }
    };
    let sum = |key: &str| c[key].as_array().unwrap().iter().map(|r| r["tickets"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("opened"), events(Event::Created).await);
    assert_eq!(sum("closed"), events(Event::Closed).await);
    let counted = rows.iter().filter(|o| matches!(o.outcome, Outcome::InTime | Outcome::Late | Outcome::Breached));
    let in_time = rows.iter().filter(|o| o.outcome == Outcome::InTime).count() as f64;
    let n = counted.count() as f64;
    assert_eq!(c["overall"].as_f64(), (n > 0.0).then(|| in_time / n));
    assert_eq!(c["trend"].as_array().unwrap().len(), 8);
    assert_eq!(c["trend"][7]["counted"].as_f64(), Some(n));
}

/// A new SLA policy and new holidays, for the second instance.
const CHANGED: &str = r#"
[sla_policies.standard.I]
response = "5m"
plan = "20m"
resolution = "end_of_day"
arrival = "1d"

[calendars.business.exceptions]
include = ["cn-holidays-2026.toml"]
holidays = ["2026-11-18", "2026-11-19"]
workdays = []
"#;

#[tokio::test]
async fn a_report_counts_only_frozen_outcomes_and_regenerates_identically_after_the_contract_changes() {
    // Monday 2026-11-16 08:30 in Shanghai; the week reported on is 11-16 … 11-22.
    let a = spawn_with(Options { now: Some(at("2026-11-16T08:30:00+08:00")), ..Default::default() }).await;
    let vip = a.customer("华夏银行", "vip").await;
    let standard = a.customer("ACME", "standard").await;
    random_week(&a, &[vip, standard], 20261116).await;

    // Every finished timer has exactly one frozen outcome, with the outcome it ended with.
    let finished: Vec<sla_timer::Model> =
        sla_timer::Entity::find().filter(sla_timer::Column::Outcome.is_not_null()).all(&a.state.db).await.unwrap();
    let frozen: BTreeMap<i64, timer_outcome::Model> =
        timer_outcome::Entity::find().all(&a.state.db).await.unwrap().into_iter().map(|o| (o.timer_id, o)).collect();
    assert!(finished.len() > 20, "the random week ended {} timers", finished.len());
    assert_eq!(frozen.len(), finished.len());
    for t in &finished {
        let o = &frozen[&t.id];
        assert_eq!(
            (Some(o.outcome), o.level, o.kind, o.cycle),
            (t.outcome, t.level, t.kind, t.cycle),
            "timer {}",
            t.id
        );
        assert!(o.late_secs.is_some() && o.paused_secs.is_some());
    }

    // Too early: the week has not ended.
    let early = a
        .post(&format!("/api/v1/customers/{vip}/reports"), &a.admin, json!({"period": "weekly", "from": "2026-11-18"}))
        .await;
    assert_eq!((early.status.as_u16(), early.body["error"]["field"].as_str()), (422, Some("from")), "{}", early.body);

    a.clock.set(at("2026-11-24T09:30:00+08:00"));
    let mut first = BTreeMap::new();
    for c in [vip, standard] {
        let r = a
            .post(
                &format!("/api/v1/customers/{c}/reports"),
                &a.admin,
                json!({"period": "weekly", "from": "2026-11-18"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["content"]["period"]["first_day"], "2026-11-16");
        check_against_the_database(&a, c, &r.body).await;
        first.insert(c, r.body);
    }
    let numbers = |c: &Value| {
        c["compliance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["in_time"].as_u64().unwrap() + r["late"].as_u64().unwrap() + r["breached"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(first.values().any(|r| numbers(&r["content"]) > 0), "the week's reports count something");

    // A second instance with a faster policy and two more holidays: every unmet timer is
    // recomputed, and the past week's reports stay what they were.
    let b = spawn_with(Options {
        db_url: Some(a.db.url.clone()),
        overlay: Some(CHANGED.into()),
        now: Some(at("2026-11-25T10:00:00+08:00")),
        ..Default::default()
    })
    .await;
    for c in [vip, standard] {
        let r = b
            .post(
                &format!("/api/v1/customers/{c}/reports"),
                &b.admin,
                json!({"period": "weekly", "from": "2026-11-22"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["content"], first[&c]["content"]);
        assert_eq!(r.body["sha256"], first[&c]["sha256"]);
        assert_ne!(r.body["id"], first[&c]["id"]);
    }
}

#[tokio::test]
async fn a_report_reads_as_html_and_csv_by_its_customer_and_staff_only() {
    let app = spawn_with(Options { now: Some(at("2026-11-16T09:00:00+08:00")), ..Default::default() }).await;
    let c = app.customer("华夏银行", "vip").await;
    let other = app.customer("Other", "vip").await;
    let t =
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "down", "level": "I"})).await.body;
    let id = t["id"].as_i64().unwrap();
    app.clock.set(at("2026-11-16T09:25:00+08:00"));
    assert_eq!(app.act(id, "respond", &app.admin, json!({"message": "m"})).await.status, 200); // 15 min late
    app.clock.set(at("2026-12-01T09:00:00+08:00"));
    let note = "下周二 <b>升级</b>";
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/reports"),
            &app.admin,
            json!({"period": "monthly", "from": "2026-11-30", "note": note, "language": "zh-CN"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let rid = r.body["id"].as_i64().unwrap();
    let b = &r.body["content"]["breaches"][0];
    assert_eq!((b["timer"].as_str(), b["late_secs"].as_i64()), (Some("response"), Some(15 * 60)), "{}", r.body);

    let html = app
        .client
        .get(format!("{}/api/v1/reports/{rid}?format=html", app.address))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let text = html.text().await.unwrap();
    for expected in ["华夏银行", "服务报告", "2026-11-01", r.body["sha256"].as_str().unwrap(), "15m", "&lt;b&gt;升级"]
    {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(!text.contains("<b>"), "the note is text, not markup");
    let pdf = app.client.get(format!("{}/api/v1/reports/{rid}?format=pdf", app.address)).bearer_auth(&app.admin);
    let pdf = pdf.send().await.unwrap();
    if cfg!(feature = "pdf") {
        assert_eq!(pdf.status(), 200);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        let text = pdf_text(&pdf.bytes().await.unwrap());
        let hash = r.body["sha256"].as_str().unwrap();
        for expected in ["华夏银行", "服务报告", "2026-11-01", "15m", "0.0 %", hash, "下周二 <b>升级</b>"]
        {
            assert!(text.contains(expected), "{expected} in the PDF's text:\n{text}");
        }
    } else {
        assert_eq!(pdf.status(), 422, "a build without the pdf feature says so");
    }
    let csv = app
        .client
        .get(format!("{}/api/v1/reports/{rid}?format=csv", app.address))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "ticket,level,timer,cycle,outcome,due_at,ended_at,late_secs");
    assert!(lines[1].starts_with(t["number"].as_str().unwrap()) && lines[1].ends_with(",900"), "{csv}");
    assert_eq!(app.get(&format!("/api/v1/reports/{rid}?format=pdfx"), &app.admin).await.status, 422);

    // The customer's own contact reads it; another customer's contact is told it does not exist.
    let (_, mine) = app.contact(c, "it@huaxia.example").await;
    let (_, theirs) = app.contact(other, "it@other.example").await;
    assert_eq!(app.get(&format!("/api/v1/reports/{rid}"), &mine).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/customers/{c}/reports"), &mine).await.body.as_array().map(Vec::len), Some(1));
    assert_eq!(app.get(&format!("/api/v1/reports/{rid}"), &theirs).await.status, 404);
    assert_eq!(app.get(&format!("/api/v1/customers/{c}/reports"), &theirs).await.status, 404);
    // Only a lead generates; bad periods are refused and change nothing.
    let engineer = app.staff("engineer").await;
    let path = format!("/api/v1/customers/{c}/reports");
    assert_eq!(app.post(&path, &engineer, json!({"period": "weekly", "from": "2026-11-18"})).await.status, 403);
    for (bad, field) in [
        (json!({"period": "weekly", "from": "18/11/2026"}), "from"),
        (json!({"period": "custom", "from": "2026-11-18"}), "period"),
        (json!({"period": "custom", "from": "2026-11-18", "to": "2026-11-17"}), "period"),
        (json!({"period": "yearly", "from": "2026-11-18"}), "period"),
    ] {
        let r = app.post(&path, &app.admin, bad.clone()).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["field"].as_str(), Some(field), "{bad}: {}", r.body);
    }
    assert_eq!(app.get(&path, &app.admin).await.body.as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.post("/api/v1/customers/999/reports", &app.admin, json!({"period": "weekly", "from": "2026-11-18"}))
            .await
            .status,
        404
    );
}

/// Timers that ended before the migration get their frozen outcomes from it, and the service
/// fills in the working-time figures once: the same rows the live path writes.
#[tokio::test]
async fn the_migration_freezes_the_outcomes_of_timers_that_had_ended() {
    use migration::MigratorTrait;
    let app = spawn_with(Options { now: Some(at("2026-11-16T17:50:00+08:00")), ..Default::default() }).await;
    let c = app.customer("ACME", "standard").await;
    let t =
        app.post("/api/v1/tickets", &app.admin, json!({"customer_id": c, "title": "down", "level": "II"})).await.body;
    let id = t["id"].as_i64().unwrap();
    // Answered the next morning: late by half an hour of working time, not by fifteen hours.
    app.clock.set(at("2026-11-17T09:30:00+08:00"));
    assert_eq!(app.act(id, "respond", &app.admin, json!({"message": "m"})).await.status, 200);
    app.clock.set(at("2026-11-17T09:40:00+08:00"));
    assert_eq!(app.act(id, "wait-customer", &app.admin, json!({"reason": "logs"})).await.status, 200);
    app.clock.set(at("2026-11-17T10:40:00+08:00"));
    assert_eq!(app.act(id, "resume", &app.admin, json!({})).await.status, 200);
    app.clock.set(at("2026-11-17T10:45:00+08:00"));
    assert_eq!(app.act(id, "plan", &app.admin, json!({"plan": "p"})).await.status, 200);
    assert_eq!(app.act(id, "cancel", &app.admin, json!({"reason": "dup"})).await.status, 200);
    let strip = |o: timer_outcome::Model| timer_outcome::Model { id: 0, recorded_at: at("2026-01-01T00:00:00Z"), ..o };
    let live: Vec<timer_outcome::Model> =
        timer_outcome::Entity::find().all(&app.state.db).await.unwrap().into_iter().map(strip).collect();
    assert_eq!(live.len(), 3);
    let of = |kind: &str| live.iter().find(|o| o.kind.as_str() == kind).unwrap();
    // Response due Monday 18:00, met Tuesday 09:30.
    let r = of("response");
    assert_eq!((r.outcome, r.paused_secs, r.late_secs), (Outcome::Late, Some(0), Some(30 * 60)));
    // Plan due Tuesday 09:50, an hour later for the hour waiting for the customer; met 10:45.
    let p = of("plan");
    assert_eq!((p.outcome, p.paused_secs, p.late_secs), (Outcome::InTime, Some(3600), Some(0)));
    assert_eq!(of("resolution").outcome, Outcome::Cancelled);

    // Back before the reports migration (and every one after it), then up again.
    let all = migration::Migrator::migrations();
    let reports = all.iter().position(|m| m.name().contains("_reports")).unwrap();
    migration::Migrator::down(&app.state.db, Some((all.len() - reports) as u32)).await.unwrap();
    migration::Migrator::up(&app.state.db, None).await.unwrap();
    let copied = timer_outcome::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(copied.len(), 3);
    assert!(copied.iter().all(|o| o.late_secs.is_none() && o.paused_secs.is_none()));
    let filled = opsline::services::timers::fill_figures(&app.state.db, &app.state.versions, None, 100).await.unwrap();
    assert_eq!(filled, 3);
    let mut again: Vec<timer_outcome::Model> =
        timer_outcome::Entity::find().all(&app.state.db).await.unwrap().into_iter().map(strip).collect();
    again.sort_by_key(|o| o.timer_id);
    let mut live = live;
    live.sort_by_key(|o| o.timer_id);
    assert_eq!(again, live);
    assert_eq!(
        opsline::services::timers::fill_figures(&app.state.db, &app.state.versions, None, 100).await.unwrap(),
        0
    );
}

/// The weekly schedule at the customers' Monday 09:30: two instances make each customer's report
/// once, mailed (real SMTP) to its recipients; a contact's link shows the report and
/// acknowledges it once; another contact's dispute opens a level IV ticket for the account lead.
#[tokio::test]
async fn the_weekly_schedule_mails_each_report_once_and_the_customer_answers_it() {
    use crate::receivers::SmtpServer;
    use opsline::services::reports::run_scheduled;
    let smtp = SmtpServer::start().await;
    let env = vec![("OPSLINE_EMAIL__SMTP_URL".to_string(), smtp.url())];
    let monday = at("2026-11-16T09:00:00+08:00");
    let a = spawn_with(Options { env: env.clone(), now: Some(monday), ..Default::default() }).await;
    let b = spawn_with(Options { env, db_url: Some(a.db.url.clone()), now: Some(monday), ..Default::default() }).await;
    async fn patch(app: &TestApp, id: i64, body: Value) -> crate::helpers::Resp {
        app.call(reqwest::Method::PATCH, &format!("/api/v1/customers/{id}"), Some(&app.admin), Some(body)).await
    }
    let hx = a.customer("华夏银行", "vip").await;
    let (hx_contact, _) = a.contact(hx, "it@huaxia.example").await;
    assert_eq!(patch(&a, hx, json!({"primary_contact_id": hx_contact})).await.status, 200);
    let acme = a.customer("ACME", "standard").await;
    let (_, acme_token) = a.contact(acme, "ops@acme.example").await;
    let lead = a.post("/api/v1/users", &a.admin, json!({"username": "account-lead", "role": "lead"})).await.body;
    let r = patch(
        &a,
        acme,
        json!({"report_recipients": ["Ops@Acme.example", "lead@opsline.example"], "account_lead_id": lead["id"]}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["report_recipients"]),
        (200, &json!(["ops@acme.example", "lead@opsline.example"])),
        "{}",
        r.body
    );
    let bad = patch(&a, acme, json!({"report_recipients": ["not an address"]})).await;
    assert_eq!((bad.status.as_u16(), bad.body["error"]["field"].as_str()), (422, Some("report_recipients[0]")));
    let quiet = a.customer("Quiet", "vip").await;
    assert_eq!(patch(&a, quiet, json!({"report_schedule": "none"})).await.body["report_schedule"], "none");
    let t = a
        .post("/api/v1/tickets", &a.admin, json!({"customer_id": hx, "title": "核心系统宕机", "level": "I"}))
        .await
        .body;
    a.clock.set(at("2026-11-16T09:30:00+08:00"));
    assert_eq!(a.act(t["id"].as_i64().unwrap(), "respond", &a.admin, json!({"message": "m"})).await.status, 200);

    // Monday 09:29 a week later: last week is not due yet (and the week before had no customers).
    for app in [&a, &b] {
        app.clock.set(at("2026-11-23T09:29:00+08:00"));
    }
    assert_eq!(run_scheduled(&a.state, a.clock.now()).await.unwrap(), 0);
    for app in [&a, &b] {
        app.clock.set(at("2026-11-23T09:30:00+08:00"));
    }
    let (x, y) = tokio::join!(run_scheduled(&a.state, a.clock.now()), run_scheduled(&b.state, b.clock.now()));
    assert_eq!(x.unwrap() + y.unwrap(), 2, "one report each for the two scheduled customers");
    assert_eq!(run_scheduled(&b.state, b.clock.now()).await.unwrap(), 0);
    assert_eq!(a.get(&format!("/api/v1/customers/{quiet}/reports"), &a.admin).await.body, json!([]));
    opsline::services::delivery::run_once(&a.state, &a.state.notifier, a.clock.now()).await.unwrap();
    let mails = smtp.mails();
    let to = |who: &str| mails.iter().filter(|m| m.to.iter().any(|t| t.contains(who))).cloned().collect::<Vec<_>>();
    assert_eq!(mails.len(), 3, "{:?}", mails.iter().map(|m| &m.to).collect::<Vec<_>>());
    let hx_mail = to("it@huaxia.example").pop().expect("the primary contact's mail");
    let subject = hx_mail.header("Subject").unwrap();
    assert!(subject.contains("2026-11-16"), "{subject}");
    let html = hx_mail.html();
    assert!(
        html.contains("华夏银行") && html.contains("0.0 %") && html.contains(t["number"].as_str().unwrap()),
        "{html}"
    );
    let attached = hx_mail.attachment("application/pdf");
    assert_eq!(attached.is_some(), cfg!(feature = "pdf"), "a build with PDF reports attaches the PDF");
    if let Some(pdf) = attached {
        let text = pdf_text(&pdf);
        assert!(text.contains("华夏银行") && text.contains("0.0 %") && text.contains("服务报告"), "{text}");
    }
    let text = hx_mail.text();
    let link =
        text[text.find("/reports/answer/").expect("an answer link")..].split_whitespace().next().unwrap().to_string();
    assert!(!to("lead@opsline.example")[0].text().contains("/reports/answer/"), "staff get no answer link");

    // The link shows the report and its two answers; GET changes nothing; the first answer stands.
    let page = a.client.get(format!("{}{link}", a.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("确认报告") && page.contains("提出异议") && page.contains("华夏银行"), "{page}");
    let hx_report = a.get(&format!("/api/v1/customers/{hx}/reports"), &a.admin).await.body[0].clone();
    assert_eq!((hx_report["scheduled"].as_bool(), &hx_report["decision"]), (Some(true), &Value::Null));
    let sha = hx_report["sha256"].as_str().unwrap().to_string();
    let answer = |decision: &'static str, sha: String| {
        a.client
            .post(format!("{}{link}", a.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("decision={decision}&sha256={sha}"))
            .send()
    };
    assert_eq!(answer("acknowledged", "0".repeat(64)).await.unwrap().status(), 422, "another hash");
    let ok = answer("acknowledged", sha.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("已确认"));
    assert_eq!(answer("disputed", sha.clone()).await.unwrap().status(), 409, "answered already");
    let done = a.get(&format!("/api/v1/reports/{}", hx_report["id"]), &a.admin).await.body;
    assert_eq!(
        (done["decision"].as_str(), done["decided_by"].as_str()),
        (Some("acknowledged"), Some("it@huaxia.example <it@huaxia.example>"))
    );
    let forged = format!("{}{}", &link[..link.len() - 2], "xx");
    assert_eq!(a.client.get(format!("{}{forged}", a.address)).send().await.unwrap().status(), 410);

    // ACME's contact disputes through the API: a reason is needed; the ticket is the lead's.
    let acme_report = a.get(&format!("/api/v1/customers/{acme}/reports"), &acme_token).await.body[0].clone();
    let path = format!("/api/v1/reports/{}/ack", acme_report["id"]);
    let sha = acme_report["sha256"].clone();
    let r = a.post(&path, &acme_token, json!({"decision": "disputed", "sha256": sha})).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (422, Some("reason")), "{}", r.body);
    assert_eq!(a.post(&path, &a.admin, json!({"decision": "acknowledged", "sha256": sha})).await.status, 403);
    let r = a
        .post(&path, &acme_token, json!({"decision": "disputed", "sha256": sha, "reason": "工单 3 的响应时间不对"}))
        .await;
    assert_eq!((r.status.as_u16(), r.body["decision"].as_str()), (200, Some("disputed")), "{}", r.body);
    let ticket = a.get(&format!("/api/v1/tickets/{}", r.body["dispute_ticket_id"]), &a.admin).await.body;
    assert_eq!((ticket["level"].as_str(), ticket["source"].as_str()), (Some("IV"), Some("report")), "{ticket}");
    assert_eq!(ticket["assignee"]["id"], lead["id"], "{ticket}");
    assert!(ticket["description"].as_str().unwrap().contains("工单 3 的响应时间不对"));
    assert_eq!(a.post(&path, &acme_token, json!({"decision": "acknowledged", "sha256": sha})).await.status, 409);
}

/// The portal lists a customer's reports only; a report's page carries the answer forms with the
/// session's CSRF token; a form without it changes nothing.
#[tokio::test]
async fn the_portal_shows_the_customers_reports_and_takes_their_answer() {
    use crate::portal::Jar;
    use crate::receivers::SmtpServer;
    use crate::web::csrf;
    let smtp = SmtpServer::start().await;
    let app = spawn_with(Options {
        env: vec![("OPSLINE_EMAIL__SMTP_URL".into(), smtp.url())],
        now: Some(at("2026-11-24T09:00:00+08:00")),
        ..Default::default()
    })
    .await;
    let c = app.customer("华夏银行", "vip").await;
    let other = app.customer("Other", "vip").await;
    app.contact(c, "it@huaxia.example").await;
    let mine = app
        .post(&format!("/api/v1/customers/{c}/reports"), &app.admin, json!({"period": "weekly", "from": "2026-11-18"}))
        .await
        .body;
    let theirs = app
        .post(
            &format!("/api/v1/customers/{other}/reports"),
            &app.admin,
            json!({"period": "weekly", "from": "2026-11-18"}),
        )
        .await
        .body;
    opsline::services::contact_links::request(
        &app.state,
        "it@huaxia.example",
        opsline::services::contact_links::Purpose::SignIn,
        app.clock.now(),
    )
    .await
    .unwrap();
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let text = smtp.mails().pop().expect("the sign-in mail").text();
    let link = text[text.find("/portal/link/").unwrap()..].split_whitespace().next().unwrap().to_string();
    let mut jar = Jar::default();
    let (_, _, page) = jar.get(&app, &link).await;
    let (s, _, _) = jar.post(&app, &link, &[("csrf_token", &csrf(&page))]).await;
    assert_eq!(s, 303);

    let (s, _, list) = jar.get(&app, "/portal/reports").await;
    assert_eq!(s, 200);
    assert!(list.contains(&format!("/portal/reports/{}", mine["id"])), "{list}");
    assert!(!list.contains(&format!("/portal/reports/{}", theirs["id"])), "{list}");
    let (s, _, _) = jar.get(&app, &format!("/portal/reports/{}", theirs["id"])).await;
    assert_eq!(s, 404, "another customer's report is not found");
    let path = format!("/portal/reports/{}", mine["id"]);
    let (s, _, page) = jar.get(&app, &path).await;
    assert_eq!(s, 200);
    assert!(page.contains("华夏银行") && page.contains("name=\"decision\""), "{page}");
    let sha = mine["sha256"].as_str().unwrap();
    let answer = format!("{path}/answer");
    let (s, _, _) = jar.post(&app, &answer, &[("decision", "acknowledged"), ("sha256", sha)]).await;
    assert_eq!(s, 403, "no answer without the form's token");
    assert_eq!(app.get(&format!("/api/v1/reports/{}", mine["id"]), &app.admin).await.body["decision"], Value::Null);
    let (s, _, again) =
        jar.post(&app, &answer, &[("csrf_token", &csrf(&page)), ("decision", "disputed"), ("sha256", sha)]).await;
    assert_eq!(s, 422, "a dispute needs a reason");
    assert!(again.contains("role=\"alert\""), "{again}");
    let (s, loc, _) =
        jar.post(&app, &answer, &[("csrf_token", &csrf(&page)), ("decision", "acknowledged"), ("sha256", sha)]).await;
    assert_eq!((s, loc), (303, format!("{path}#answer")));
    let (_, _, done) = jar.get(&app, &path).await;
    assert!(done.contains("已确认") && !done.contains("name=\"decision\""), "{done}");
    let (_, _, list) = jar.get(&app, "/portal/reports").await;
    assert!(list.contains("已确认") || list.contains("Acknowledged"), "{list}");
}
