#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Ticket intake, on SQLite and on PostgreSQL, each measured three times, alternating:
//!
//! 1. **Over HTTP**: `POST /api/v1/tickets` on the release service (one worker on CPU1), the full
//!    path — classification, the three deadlines, the ticket, its timers and its event — driven
//!    by `wrk -t1 -c32` on CPU0. Requests/s and p99.
//! 2. **The same transaction without HTTP**: `tickets::open` called by 32 tasks in a process on
//!    CPU1 for the same time. HTTP ÷ this ≥ 0.7. On SQLite that process then reports the pages a
//!    ticket writes to the write-ahead log, opened one at a time and 32 at once (where SQLite's
//!    intake spends most of its time: each page is written there, then copied back).
//! 3. **A minimal one-row insert handler** (actix, one worker, on CPU1, the same pool settings):
//!    the raw limit, reported; Opsline's p99 at 32 connections ≤ 2× its p99.
//! 4. **django-helpdesk** 2.6.1 creating tickets over its API (gunicorn `-w 2` on CPU1, SQLite
//!    WAL, DEBUG off), set up by `benches/run-all` in `$BENCH_DJANGO_DIR`; Opsline ≥ 30× it.
//!    Skipped when absent.
//! 5. **Isolation** (PostgreSQL): intake while the service also runs 300 probes/s and fires 20
//!    escalations/s; p99 ≤ 2× and throughput ≥ 0.7× the quiet run.
//! 6. **Alert storm** (PostgreSQL): one Alertmanager notification of 1,000 new alerts, end to end
//!    (request to answer, 1,000 tickets opened and linked), against the time the same 1,000
//!    tickets take through `POST /api/v1/tickets` at 32 connections (1,000 ÷ its requests/s from
//!    (1)); at least as fast.
//!
//! `cargo bench --bench intake -- [--quick] [--storm]` (quick: 3 s runs, one round; storm: only
//! PostgreSQL's intake over HTTP and the alert storm). PostgreSQL from
//! `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). Writes the
//! table to `$CARGO_TARGET_DIR/bench-intake.md`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::Utc;
use common::{Row, Wrk, free_port, median, opsline_bin, pinned, post_script, start, wrk};
use opsline::clock::Clock;
use opsline::config::{Config, ConfigSource};
use opsline::domain::actor::Actor;
use opsline::domain::ticket::Role;
use opsline::services::auth::Principal;
use opsline::services::customers::{self, NewCustomer};
use opsline::services::tickets::{self, NewTicket};
use opsline::services::users::{self, NewTokenRequest};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement};

const BODY: &str = r#"{"customer_id": 1, "title": "Core banking system down", "description": "All branches: the service is unavailable since 09:55."}"#;

fn source(url: &str, dir: &Path) -> ConfigSource {
    let mut env = BTreeMap::new();
    env.insert("OPSLINE_DATABASE__URL".to_string(), url.to_string());
    ConfigSource { dir: dir.to_path_buf(), environment: "development".into(), env }
}

/// Migrates, and adds the customer the tickets are for and an admin token.
async fn prepare(url: &str, dir: &Path) -> String {
    let config = Config::load(&source(url, dir)).unwrap();
    let state = opsline::startup::prepare(config, Clock::System, true).await.unwrap();
    let now = Utc::now();
    let req = NewTokenRequest { user_id: None, role: Some(Role::Admin), name: "bench".into(), expires_at: None };
    let token = users::create_token(&state, &Actor::command_line(), req, now).await.unwrap().token;
    let input: NewCustomer = serde_json::from_value(serde_json::json!({"name": "Bench Bank", "tier": "vip"})).unwrap();
    let p = Principal::Staff { user_id: 1, username: "bench".into(), display_name: "bench".into(), role: Role::Admin };
    let c = customers::create(&state, &p, input, now).await.unwrap();
    assert_eq!(c.id, 1, "the bench's customer is the first");
    state
        .db
        .execute_unprepared(
            "CREATE TABLE bench_min (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL)"
                .replace("BIGSERIAL", if url.starts_with("sqlite") { "INTEGER" } else { "BIGSERIAL" })
                .as_str(),
        )
        .await
        .unwrap();
    state.db.close().await.ok();
    token
}

/// In a child process on CPU1: `tickets::open` by 32 tasks for `secs`; prints tickets/s.
async fn inproc(url: &str, dir: &Path, secs: u64) {
    let config = Config::load(&source(url, dir)).unwrap();
    let state = opsline::startup::prepare(config, Clock::System, false).await.unwrap();
    let p = Principal::Staff { user_id: 1, username: "bench".into(), display_name: "bench".into(), role: Role::Admin };
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (state, p, done) = (state.clone(), p.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let t: NewTicket = serde_json::from_str(BODY).unwrap();
                if tickets::open(&state, &p, t, None, Utc::now()).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / secs as f64;
    if url.starts_with("sqlite") {
        let (alone, together) = wal_frames(&state, &p).await;
        println!("{WAL_FRAMES} {alone:.1} {together:.1}");
    }
    println!("{rate:.1}");
}

/// What `--inproc` prints before its rate on SQLite: the line's first word.
const WAL_FRAMES: &str = "wal_frames";

/// SQLite: the pages a ticket writes to the write-ahead log (a 4 KiB frame each), after the timed
/// run, from an emptied log that nothing copies back meanwhile: 100 tickets opened one at a time
/// (each its own commit), then 320 by 32 tasks at once (work waiting for the writer joins the
/// open transaction: `persistence::group_commit`). Where intake's time on SQLite goes: each
/// frame is written, and later copied back.
async fn wal_frames(state: &opsline::state::AppState, p: &Principal) -> (f64, f64) {
    state.db.execute_unprepared("PRAGMA wal_autocheckpoint = 0").await.unwrap();
    (logged(state, p, 1, 100).await, logged(state, p, 32, 10).await)
}

/// Pages logged per ticket while `tasks` tasks each open `each` tickets.
async fn logged(state: &opsline::state::AppState, p: &Principal, tasks: u32, each: u32) -> f64 {
    state.db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
    let opening = (0..tasks).map(|_| {
        let (state, p) = (state.clone(), p.clone());
        tokio::spawn(async move {
            for _ in 0..each {
                let t: NewTicket = serde_json::from_str(BODY).unwrap();
                tickets::open(&state, &p, t, None, Utc::now()).await.unwrap();
            }
        })
    });
    for task in opening.collect::<Vec<_>>() {
        task.await.unwrap();
    }
    // `wal_checkpoint` answers (busy, frames in the log, frames copied back).
    let row = state
        .db
        .query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)"))
        .await
        .unwrap()
        .unwrap();
    let logged: i64 = row.try_get_by_index(1).unwrap();
    logged as f64 / f64::from(tasks * each)
}

/// In a child process on CPU1: an actix server whose one handler inserts one row.
async fn minimal(url: &str, dir: &Path, port: u16) {
    let config = Config::load(&source(url, dir)).unwrap();
    let db = opsline::persistence::connect(&config.settings.database).await.unwrap();
    let data = web::Data::new(db);
    HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/tickets",
            web::post().to(|db: web::Data<DatabaseConnection>, body: web::Bytes| async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let title = v["title"].as_str().unwrap_or("").to_string();
                let stmt = sea_orm::Statement::from_sql_and_values(
                    db.get_database_backend(),
                    common::sql(
                        db.get_database_backend(),
                        "INSERT INTO bench_min (title, created_at) VALUES (?, ?) RETURNING id",
                    ),
                    [title.into(), Utc::now().to_rfc3339().into()],
                );
                match db.query_one_raw(stmt).await {
                    Ok(Some(_)) => HttpResponse::Created().body("{}"),
                    _ => HttpResponse::InternalServerError().finish(),
                }
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .unwrap()
    .run()
    .await
    .unwrap();
}

fn this_bench() -> PathBuf {
    std::env::current_exe().unwrap()
}

async fn wait_port(port: u16) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {port}");
}

async fn run_wrk(url: String, secs: u64, script: PathBuf) -> Option<Wrk> {
    tokio::task::spawn_blocking(move || wrk(&url, 32, secs, Some(&script))).await.unwrap()
}

/// django-helpdesk under gunicorn on CPU1, if `benches/run-all` set it up.
async fn helpdesk(secs: u64, scratch: &Path) -> Option<Wrk> {
    let dir = PathBuf::from(std::env::var_os("BENCH_DJANGO_DIR")?);
    let token = std::fs::read_to_string(dir.join("token.txt")).ok()?;
    let port = free_port();
    let mut child = pinned("1", dir.join("venv/bin/gunicorn"))
        .args(["-w", "2", "--bind", &format!("127.0.0.1:{port}"), "dhproj.wsgi"])
        .current_dir(dir.join("project"))
        .env("DH_DATA", &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    wait_port(port).await;
    let body = r#"{"queue": 1, "title": "Core banking system down", "description": "All branches: the service is unavailable since 09:55.", "submitter_email": "caller@example.org", "priority": 1}"#;
    let auth = format!("Token {}", token.trim());
    let script = post_script(scratch, "dh.lua", body, &[("Authorization", &auth)]);
    let r = run_wrk(format!("http://127.0.0.1:{port}/helpdesk/api/tickets/"), secs, script).await;
    let _ = child.kill();
    let _ = child.wait();
    r
}

struct Measured {
    http: Vec<Wrk>,
    inproc: Vec<f64>,
    minimal: Vec<Wrk>,
    helpdesk: Vec<Wrk>,
    /// SQLite: write-ahead log frames per ticket opened, one at a time and 32 at once
    /// (`wal_frames`).
    wal_frames: Vec<(f64, f64)>,
}

async fn backend(name: &str, url: &str, rounds: usize, secs: u64, rows: &mut Vec<Row>, with_peer: bool) -> Option<Wrk> {
    let scratch = tempfile::tempdir().unwrap();
    let dir = common::config_dir("[log]\nlevel = \"warn\"\n\n[limits]\nintake_per_minute = 100000000\n");
    let token = prepare(url, dir.path()).await;
    let script = post_script(scratch.path(), "post.lua", BODY, &[("Authorization", &format!("Bearer {token}"))]);
    let mut m = Measured { http: vec![], inproc: vec![], minimal: vec![], helpdesk: vec![], wal_frames: vec![] };
    for round in 0..rounds {
        eprintln!("{name} round {}: load {}", round + 1, common::loadavg());
        let svc = start(&opsline_bin(), dir.path(), url).await;
        if let Some(w) = run_wrk(format!("http://127.0.0.1:{}/api/v1/tickets", svc.port), secs, script.clone()).await {
            m.http.push(w);
        }
        drop(svc);
        let out = pinned("1", this_bench())
            .args(["--inproc", url, &dir.path().display().to_string(), &secs.to_string()])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        if let Some(v) = printed.lines().last().and_then(|l| l.trim().parse::<f64>().ok()) {
            m.inproc.push(v);
        }
        let frames = printed.lines().find_map(|l| {
            let mut n = l.strip_prefix(WAL_FRAMES)?.split_whitespace().map(|v| v.parse::<f64>().ok());
            Some((n.next()??, n.next()??))
        });
        m.wal_frames.extend(frames);
        let port = free_port();
        let mut child = pinned("1", this_bench())
            .args(["--minimal", url, &dir.path().display().to_string(), &port.to_string()])
            .spawn()
            .unwrap();
        wait_port(port).await;
        if let Some(w) = run_wrk(format!("http://127.0.0.1:{port}/tickets"), secs, script.clone()).await {
            m.minimal.push(w);
        }
        let _ = child.kill();
        let _ = child.wait();
        if with_peer && let Some(w) = helpdesk(secs, scratch.path()).await {
            m.helpdesk.push(w);
        }
    }
    eprintln!(
        "{name}: http {:?}\n  inproc {:?}\n  minimal {:?}\n  helpdesk {:?}\n  wal frames per ticket {:?}",
        m.http, m.inproc, m.minimal, m.helpdesk, m.wal_frames
    );
    let med = |v: &[Wrk], f: fn(&Wrk) -> f64| (!v.is_empty()).then(|| median(v.iter().map(f).collect()));
    let (http, http_p99) = (med(&m.http, |w| w.rps), med(&m.http, |w| w.p99_ms));
    let (min, min_p99) = (med(&m.minimal, |w| w.rps), med(&m.minimal, |w| w.p99_ms));
    let inproc = (!m.inproc.is_empty()).then(|| median(m.inproc.clone()));
    let dh = med(&m.helpdesk, |w| w.rps);
    let errors = m.http.iter().any(|w| w.errors);
    let n = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.0}/s"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let verdict = |r: Option<f64>, min: f64| match r {
        Some(_) if errors => "fail".to_string(),
        Some(r) if r >= min => "pass".into(),
        Some(_) => "fail".into(),
        None => "skipped".into(),
    };
    let r = ratio(http, inproc);
    rows.push(Row {
        goal: format!("ticket intake over HTTP, {name}: ≥ 0.7× the same transaction without HTTP"),
        opsline: n(http),
        peer: format!("{} without HTTP", n(inproc)),
        ratio: r.map_or("—".into(), |r| format!("{r:.2}×")),
        verdict: verdict(r, 0.7),
    });
    rows.push(Row {
        goal: format!("ticket intake, {name}: a minimal one-row insert handler (the raw limit)"),
        opsline: n(http),
        peer: format!("{} minimal insert", n(min)),
        ratio: ratio(http, min).map_or("—".into(), |r| format!("{r:.2}×")),
        verdict: "reported".into(),
    });
    if !m.wal_frames.is_empty() {
        rows.push(Row {
            goal: format!("ticket intake, {name}: pages written to the write-ahead log per ticket opened (4 KiB each)"),
            opsline: format!(
                "{:.1} pages one at a time, {:.1} with 32 at once",
                median(m.wal_frames.iter().map(|f| f.0).collect()),
                median(m.wal_frames.iter().map(|f| f.1).collect())
            ),
            peer: "—".into(),
            ratio: "—".into(),
            verdict: "reported".into(),
        });
    }
    if with_peer {
        let r = ratio(http, dh);
        rows.push(Row {
            goal: format!("ticket intake, {name}: ≥ 30× django-helpdesk creating tickets over its API"),
            opsline: n(http),
            peer: dh.map_or("skipped (django-helpdesk not set up: benches/run-all)".into(), |d| {
                format!("{d:.1}/s django-helpdesk")
            }),
            ratio: r.map_or("—".into(), |r| format!("{r:.0}×")),
            verdict: verdict(r, 30.0),
        });
    }
    let r = ratio(min_p99, http_p99);
    rows.push(Row {
        goal: format!("ticket intake p99 at 32 connections, {name}: ≤ 2× the minimal insert handler's p99"),
        opsline: http_p99.map_or("—".into(), |p| format!("p99 {p:.1} ms")),
        peer: min_p99.map_or("—".into(), |p| format!("p99 {p:.1} ms minimal")),
        ratio: ratio(http_p99, min_p99).map_or("—".into(), |r| format!("{r:.2}×")),
        verdict: verdict(r, 0.5),
    });
    (!m.http.is_empty()).then(|| Wrk { rps: http.unwrap_or(0.0), p99_ms: http_p99.unwrap_or(0.0), errors })
}

/// One Alertmanager notification of 1,000 new alerts to the service, end to end, `rounds` times;
/// against 1,000 tickets at the rate `POST /api/v1/tickets` reached at 32 connections.
async fn storm(url: &str, rounds: usize, quiet: Option<Wrk>, rows: &mut Vec<Row>) {
    const ALERTS: usize = 1000;
    let dir = common::config_dir("[log]\nlevel = \"warn\"\n\n[limits]\nintake_per_minute = 100000000\n");
    let config = Config::load(&source(url, dir.path())).unwrap();
    let state = opsline::startup::prepare(config, Clock::System, false).await.unwrap();
    let req = NewTokenRequest { user_id: None, role: Some(Role::Admin), name: "storm".into(), expires_at: None };
    let token = users::create_token(&state, &Actor::command_line(), req, Utc::now()).await.unwrap().token;
    state.db.close().await.ok();
    let svc = start(&opsline_bin(), dir.path(), url).await;
    let client = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{}/api/v1", svc.port);
    let created: serde_json::Value = client
        .post(format!("{api}/customers/1/integrations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"kind": "alertmanager"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().expect("an integration key").to_string();
    let mut secs = Vec::new();
    for round in 0..rounds {
        let alerts: Vec<serde_json::Value> = (0..ALERTS)
            .map(|i| {
                serde_json::json!({"status": "firing", "fingerprint": format!("storm-{round}-{i:04}"),
                    "labels": {"alertname": "DiskFull", "instance": format!("db-{i}"), "severity": "warning"},
                    "annotations": {"summary": format!("Disk full on db-{i}")}, "startsAt": "2026-10-20T02:00:00Z"})
            })
            .collect();
        let body = serde_json::json!({"version": "4", "status": "firing", "alerts": alerts});
        let t0 = Instant::now();
        let r =
            client.post(format!("{api}/integrations/alertmanager")).bearer_auth(&key).json(&body).send().await.unwrap();
        let status = r.status();
        let answer: serde_json::Value = r.json().await.unwrap_or_default();
        let took = t0.elapsed().as_secs_f64();
        let opened = answer["alerts"].as_array().map_or(0, |a| a.iter().filter(|x| x["result"] == "opened").count());
        eprintln!("storm round {}: {status}, {opened} opened in {took:.2}s (load {})", round + 1, common::loadavg());
        if opened == ALERTS {
            secs.push(took);
        }
    }
    drop(svc);
    let ours = (secs.len() == rounds).then(|| median(secs));
    let theirs = quiet.filter(|w| w.rps > 0.0).map(|w| ALERTS as f64 / w.rps);
    rows.push(Row {
        goal: "alert storm, PostgreSQL: one 1,000-alert Alertmanager notification end to end ≤ the same 1,000 tickets by `POST /api/v1/tickets` at 32 connections".into(),
        opsline: ours.map_or("not every alert opened its ticket".into(), |s| format!("{s:.2} s")),
        peer: theirs.map_or("—".into(), |s| format!("{s:.2} s at {:.0}/s", ALERTS as f64 / s)),
        ratio: match (ours, theirs) {
            (Some(o), Some(t)) => format!("{:.2}× faster", t / o),
            _ => "—".into(),
        },
        verdict: match (ours, theirs) {
            (Some(o), Some(t)) if o <= t => "pass".into(),
            (Some(_), None) => "skipped".into(),
            _ => "fail".into(),
        },
    });
}

/// Intake on PostgreSQL while the same service probes 300 checks a second and fires 20
/// escalations a second, against the quiet run's figures.
async fn isolation(url: &str, rounds: usize, secs: u64, quiet: Option<Wrk>, rows: &mut Vec<Row>) {
    let scratch = tempfile::tempdir().unwrap();
    // A target for the probes and a receiver for the webhooks, on CPU0 with wrk.
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = target.local_addr().unwrap().port();
    let server = HttpServer::new(|| App::new().default_service(web::to(|| async { HttpResponse::Ok().body("ok") })))
        .workers(1)
        .listen(target)
        .unwrap()
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let dir = common::config_dir(&format!(
        r#"
[log]
level = "warn"

[limits]
intake_per_minute = 100000000

[checks]
denied_networks = []

[[escalation.rules]]
name = "due"
on = "warning"
timer = "response"
at = "100%"
notify = ["webhook:bench"]

[webhooks]
allowed_networks = ["127.0.0.0/8"]

[webhooks.endpoints.bench]
url = "http://127.0.0.1:{tport}/hook"
secret = "bench-secret-0123456789"
"#
    ));
    let token = prepare(url, dir.path()).await;
    let db = Database::connect(url).await.unwrap();
    let svc = start(&opsline_bin(), dir.path(), url).await;
    // 300 checks at a 1 s interval: 300 probes a second.
    let client = reqwest::Client::new();
    for i in 0..300 {
        let spec = serde_json::json!({"name": format!("iso-{i}"), "kind": "http", "url": format!("http://127.0.0.1:{tport}/c{i}"), "interval": "1s"});
        let r = client
            .post(format!("http://127.0.0.1:{}/api/v1/checks", svc.port))
            .bearer_auth(&token)
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    // 20 response deadlines a second for the whole measurement.
    let span = (rounds as u64 * (secs + 2) + 30) as i64;
    let now = Utc::now();
    let due_from = chrono::DateTime::from_timestamp(now.timestamp() + 5, 0).unwrap();
    let contract = common::bench_customer(&db).await;
    let prefixes: Vec<String> = (0..span).map(|s| format!("ISO{s}")).collect();
    let base = common::Seed::background("ISO", 20, contract, now);
    for (s, prefix) in prefixes.iter().enumerate() {
        let due = due_from + chrono::Duration::seconds(s as i64);
        let started = due - chrono::Duration::minutes(10);
        common::seed(
            &db,
            common::Seed { prefix, started, due, next_fire: due, kind: "response", target: "10m", ..base },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(if secs < 10 { 3 } else { 6 })).await;
    let script = post_script(scratch.path(), "post.lua", BODY, &[("Authorization", &format!("Bearer {token}"))]);
    let mut loaded = Vec::new();
    let probes0 = common::scalar(&db, "SELECT COUNT(*) FROM check_results").await;
    let sent0 = common::metric_sum(svc.port, "opsline_notifications_total").await;
    let t0 = Instant::now();
    for _ in 0..rounds {
        if let Some(w) = run_wrk(format!("http://127.0.0.1:{}/api/v1/tickets", svc.port), secs, script.clone()).await {
            loaded.push(w);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let probes = (common::scalar(&db, "SELECT COUNT(*) FROM check_results").await - probes0) as f64 / elapsed;
    let sent = (common::metric_sum(svc.port, "opsline_notifications_total").await - sent0) / elapsed;
    drop(svc);
    handle.stop(false).await;
    db.close().await.ok();
    eprintln!("isolation: loaded {loaded:?}; meanwhile {probes:.0} probes/s and {sent:.0} escalations/s");
    let med = |v: &[Wrk], f: fn(&Wrk) -> f64| (!v.is_empty()).then(|| median(v.iter().map(f).collect()));
    let (rps, p99) = (med(&loaded, |w| w.rps), med(&loaded, |w| w.p99_ms));
    let (verdict, ratio) = match (rps, p99, quiet) {
        (Some(r), Some(p), Some(q)) => {
            let ok = r >= 0.7 * q.rps && p <= 2.0 * q.p99_ms && !loaded.iter().any(|w| w.errors);
            (if ok { "pass" } else { "fail" }, format!("{:.2}× throughput, {:.2}× p99", r / q.rps, p / q.p99_ms))
        }
        _ => ("skipped", "—".into()),
    };
    rows.push(Row {
        goal: "isolation, PostgreSQL: intake while 300 probes/s and 20 escalations/s run: p99 ≤ 2×, throughput ≥ 0.7× quiet".into(),
        opsline: match (rps, p99) {
            (Some(r), Some(p)) => format!("{r:.0}/s, p99 {p:.1} ms (with {probes:.0} probes/s, {sent:.0} escalations/s)"),
            _ => "—".into(),
        },
        peer: quiet.map_or("—".into(), |q| format!("quiet: {:.0}/s, p99 {:.1} ms", q.rps, q.p99_ms)),
        ratio,
        verdict: verdict.into(),
    });
}

#[actix_web::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--inproc") => return inproc(&args[2], Path::new(&args[3]), args[4].parse().unwrap()).await,
        Some("--minimal") => return minimal(&args[2], Path::new(&args[3]), args[4].parse().unwrap()).await,
        _ => {}
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--storm`: PostgreSQL's intake and the alert storm only, to try a change quickly.
    let storm_only = args.iter().any(|a| a == "--storm");
    let (rounds, secs) = if quick { (1, 2) } else { (3, 10) };
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/intake.db", dir.path().display());
    if !storm_only {
        backend("SQLite", &sqlite, rounds, secs, &mut rows, true).await;
    }

    let admin =
        std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match Database::connect(&admin).await {
        Ok(conn) => {
            let base = admin.rsplit_once('/').unwrap().0.to_string();
            for db in ["opsline_bench_intake", "opsline_bench_isolation"] {
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await.unwrap();
                conn.execute_unprepared(&format!("CREATE DATABASE {db}")).await.unwrap();
            }
            let quiet =
                backend("PostgreSQL", &format!("{base}/opsline_bench_intake"), rounds, secs, &mut rows, false).await;
            // The storm before the isolation run: it is compared with the quiet intake just
            // measured, so it runs in the same quiet, not in what 300 probes/s leave behind.
            storm(&format!("{base}/opsline_bench_intake"), rounds, quiet, &mut rows).await;
            if !storm_only {
                isolation(&format!("{base}/opsline_bench_isolation"), rounds, secs, quiet, &mut rows).await;
            }
            for db in ["opsline_bench_intake", "opsline_bench_isolation"] {
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await.ok();
            }
        }
        Err(e) => eprintln!("PostgreSQL unavailable ({e}): its goals are skipped"),
    }
    common::report("intake", &rows);
}
