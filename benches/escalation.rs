#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Escalation under load, against the real service (the release binary, workers on):
//!
//! 1. **Lateness**: with N background open tickets (1,000,000; bulk SQL), 1,000 timers due in the
//!    same second; a local receiver timestamps every webhook; lateness = arrival − due.
//! 2. **Idle sweep CPU**: the service's CPU while nothing is due, as a share of one core.
//! 3. **Burst**: 10,000 timers due at once, delivered to the same receiver — and, in the same run,
//!    Debian's `prometheus-alertmanager` (`group_by: [alertname]`, `group_wait: 0s`) delivering
//!    10,000 alerts to it. Nothing may be lost or duplicated.
//! 4. **Crash** (PostgreSQL): 2,000 timers due at once (600 in quick mode); the receiver answers
//!    the first third and then holds every request unanswered; once the answered ones are
//!    recorded, the service is killed (`kill -9`) with its requests in flight, and restarted at
//!    once (a new instance name: its predecessor's rows wait `delivery.takeover_secs`). Every
//!    event must arrive; ids received twice ≤ requests in flight at the kill; the outbox empty
//!    ≤ 15 s after the restart.
//!
//! `cargo bench --bench escalation -- [--quick] [--backend postgres|sqlite|both] [--background N]
//! [--burst N]`. PostgreSQL from `BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Prints a Markdown table and writes it to
//! `$CARGO_TARGET_DIR/bench-escalation.md` (or `target/`).

#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use common::{
    Row, Seed, Store, bench_contract, cpu_ticks, free_port, median, now_ms, opsline_bin, percentile, seed, start,
};
use sea_orm::Database;

#[derive(Default)]
struct Received {
    hooks: Vec<(i64, i64, String)>, // (arrival ms, due ms, webhook id)
    alerts: Vec<(i64, String)>,     // (arrival ms, alertname)
}

type Shared = Arc<Mutex<Received>>;

/// The crash case's receiver: ids as they arrive; from `hold_from` on, answers held until the
/// gate opens.
struct Crash {
    ids: Mutex<Vec<String>>,
    hold_from: AtomicUsize,
    held: AtomicUsize,
    gate: tokio::sync::watch::Sender<bool>,
}

async fn crash_hook(state: web::Data<Arc<Crash>>, req: actix_web::HttpRequest) -> HttpResponse {
    let id = req.headers().get("webhook-id").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    let arrived = {
        let mut ids = state.ids.lock().unwrap();
        ids.push(id);
        ids.len()
    };
    if arrived > state.hold_from.load(Ordering::SeqCst) {
        state.held.fetch_add(1, Ordering::SeqCst);
        let _ = state.gate.subscribe().wait_for(|open| *open).await;
    }
    HttpResponse::Ok().finish()
}

async fn hook(state: web::Data<Shared>, req: actix_web::HttpRequest, body: web::Bytes) -> HttpResponse {
    let arrival = now_ms();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let due = v["due_at"].as_str().and_then(|d| d.parse::<DateTime<Utc>>().ok()).map_or(0, |d| d.timestamp_millis());
    let id = req.headers().get("webhook-id").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    state.lock().unwrap().hooks.push((arrival, due, id));
    HttpResponse::Ok().finish()
}

async fn am(state: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let arrival = now_ms();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut s = state.lock().unwrap();
    for a in v["alerts"].as_array().into_iter().flatten() {
        s.alerts.push((arrival, a["labels"]["alertname"].as_str().unwrap_or_default().to_string()));
    }
    HttpResponse::Ok().finish()
}

struct Sizes {
    background: i64,
    /// Events in flight, answered and due when the crash case kills the service.
    crash: i64,
    due: i64,
    burst: i64,
    idle_secs: u64,
    /// Rounds of each measurement, alternating with the peer; medians are reported.
    rounds: usize,
}

fn config_dir(receiver: u16) -> tempfile::TempDir {
    rules_dir(receiver, "bench", "/hook")
}

/// The bench's configuration: one rule, at 100% of the response timer, to `endpoint` at `path`.
fn rules_dir(receiver: u16, endpoint: &str, path: &str) -> tempfile::TempDir {
    common::config_dir(&format!(
        r#"
[[escalation.rules]]
name = "due"
on = "warning"
timer = "response"
at = "100%"
notify = ["webhook:{endpoint}"]

[webhooks]
allowed_networks = ["127.0.0.0/8"]

[webhooks.endpoints.{endpoint}]
url = "http://127.0.0.1:{receiver}{path}"
secret = "bench-secret-0123456789"
timeout_ms = 10000

[log]
level = "warn"
"#
    ))
}

async fn wait_for(state: &Shared, count: usize, what: fn(&Received) -> usize, timeout: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if what(&state.lock().unwrap()) >= count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn run_backend(
    name: &str,
    url: &str,
    sizes: &Sizes,
    state: &Shared,
    receiver: u16,
    rows: &mut Vec<Row>,
    // The burst, if this backend measures it, alternating with the peer if there is one.
    burst: Option<Option<&Alertmanager>>,
) -> (Option<f64>, Option<f64>) {
    // The database already holds the background tickets (a reused seed, see `common::seeded`).
    let dir = config_dir(receiver);
    let svc = start(&opsline_bin(), dir.path(), url).await;
    let db = Database::connect(url).await.unwrap();
    let base = Seed::background("BG", 0, bench_contract(&db).await, Utc::now());

    // 1. Lateness: `due` timers due in the same second, `rounds` times.
    let (mut p50s, mut p99s, mut maxes, mut all_ok) = (Vec::new(), Vec::new(), Vec::new(), true);
    let prefixes: Vec<String> = (0..sizes.rounds).map(|r| format!("DUE{r}")).collect();
    for prefix in &prefixes {
        state.lock().unwrap().hooks.clear();
        let due = chrono::DateTime::from_timestamp(Utc::now().timestamp() + 6, 0).unwrap();
        let started = due - chrono::Duration::minutes(10);
        seed(
            &db,
            Seed { prefix, count: sizes.due, kind: "response", target: "10m", started, due, next_fire: due, ..base },
        )
        .await;
        eprintln!(
            "{name}: {} timers due at {due}; seeded with {} ms to spare (load {})",
            sizes.due,
            due.timestamp_millis() - now_ms(),
            common::loadavg()
        );
        let ok = wait_for(state, sizes.due as usize, |r| r.hooks.len(), Duration::from_secs(60)).await;
        let mut lateness: Vec<i64> = state.lock().unwrap().hooks.iter().map(|(a, d, _)| a - d).collect();
        lateness.sort_unstable();
        p50s.push(percentile(&lateness, 0.5) as f64);
        p99s.push(percentile(&lateness, 0.99) as f64);
        maxes.push(lateness.last().copied().unwrap_or(0) as f64);
        all_ok &= ok;
        eprintln!(
            "{name}: lateness p50 {} p99 {} max {} ms",
            p50s.last().unwrap(),
            p99s.last().unwrap(),
            maxes.last().unwrap()
        );
    }
    let (p50, p99, max) = (median(p50s) as i64, median(p99s) as i64, median(maxes) as i64);
    let ok = all_ok;
    let pg = name == "PostgreSQL";
    rows.push(Row {
        goal: format!(
            "escalation lateness, {} open, {} due in one second ({name}; median of {} rounds)",
            sizes.background, sizes.due, sizes.rounds
        ),
        opsline: format!("p50 {p50} ms, p99 {p99} ms, max {max} ms{}", if ok { "" } else { " (not all arrived)" }),
        peer: "—".into(),
        ratio: "—".into(),
        verdict: if !ok {
            "fail".into()
        } else if pg {
            if p99 <= 250 && max <= 1000 { "pass".into() } else { "fail".into() }
        } else if max <= 2000 {
            "reported (max ≤ 2 s)".into()
        } else {
            "reported".into()
        },
    });

    // 2. Idle CPU.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hz = 100.0;
    let before = cpu_ticks(svc.child.id());
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(sizes.idle_secs)).await;
    let used = (cpu_ticks(svc.child.id()) - before) as f64 / hz;
    let idle_pct = used / t.elapsed().as_secs_f64() * 100.0;
    rows.push(Row {
        goal: format!("idle sweep CPU, {} open ({name})", sizes.background + sizes.due),
        opsline: format!("{idle_pct:.2}% of a core"),
        peer: "—".into(),
        ratio: "—".into(),
        verdict: if idle_pct <= 5.0 { "pass".into() } else { "fail".into() },
    });

    // 3. Burst, alternating with Alertmanager (PostgreSQL only).
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut lost = false;
    if let Some(am) = burst {
        let prefixes: Vec<String> = (0..sizes.rounds).map(|r| format!("BURST{r}")).collect();
        for (r, prefix) in prefixes.iter().enumerate() {
            state.lock().unwrap().hooks.clear();
            let burst_due = chrono::DateTime::from_timestamp(Utc::now().timestamp() + 8, 0).unwrap();
            let started = burst_due - chrono::Duration::minutes(10);
            let burst = Seed { prefix, count: sizes.burst, started, due: burst_due, next_fire: burst_due, ..base };
            seed(&db, Seed { kind: "response", target: "10m", ..burst }).await;
            let ok = wait_for(state, sizes.burst as usize, |r| r.hooks.len(), Duration::from_secs(180)).await;
            let (n, unique, last) = {
                let s = state.lock().unwrap();
                let ids: HashSet<&String> = s.hooks.iter().map(|(_, _, id)| id).collect();
                (s.hooks.len(), ids.len(), s.hooks.iter().map(|(a, _, _)| *a).max().unwrap_or(0))
            };
            let secs = (last - burst_due.timestamp_millis()).max(1) as f64 / 1000.0;
            eprintln!(
                "{name}: burst of {} delivered {n} ({unique} distinct) in {secs:.2}s (load {})",
                sizes.burst,
                common::loadavg()
            );
            if ok && n == unique && n as i64 == sizes.burst {
                ours.push(sizes.burst as f64 / secs);
            } else {
                lost = true;
            }
            if let Some(am) = am
                && let Some(rate) = am.burst(sizes, state, r).await
            {
                theirs.push(rate);
            }
        }
    }
    drop(svc);
    db.close().await.ok();
    let rate = (!ours.is_empty() && !lost).then(|| median(ours));
    let am_rate = (!theirs.is_empty()).then(|| median(theirs));
    (rate, am_rate)
}

/// What the crash case measured.
struct Crashed {
    events: usize,
    distinct: usize,
    twice: usize,
    in_flight: usize,
    empty_after: Option<f64>,
}

/// The crash case on `url` (see the module's doc, 4).
async fn crash(url: &str, events: i64, crash: &Arc<Crash>, receiver: u16) -> Crashed {
    let dir = rules_dir(receiver, "crash", "/crash");
    let db = Database::connect(url).await.unwrap();
    let pending = "SELECT count(*) FROM outbox WHERE status = 'pending'";
    let delivered = "SELECT count(*) FROM outbox WHERE status = 'delivered' AND target = 'crash'";
    let base = Seed::background("BG", 0, bench_contract(&db).await, Utc::now());
    crash.ids.lock().unwrap().clear();
    let answered = (events / 3) as usize;
    crash.hold_from.store(answered, Ordering::SeqCst);
    crash.gate.send_replace(false);
    let svc = start(&opsline_bin(), dir.path(), url).await;
    let due = chrono::DateTime::from_timestamp(Utc::now().timestamp() + 6, 0).unwrap();
    let started = due - chrono::Duration::minutes(10);
    let batch =
        Seed { prefix: "CRASH", count: events, kind: "response", target: "10m", started, due, next_fire: due, ..base };
    seed(&db, batch).await;
    // Killed once the answered ones are recorded and the held ones have stopped growing.
    let t0 = Instant::now();
    let mut last = (0, 0);
    while t0.elapsed() < Duration::from_secs(120) {
        let now = (common::scalar(&db, delivered).await, crash.held.load(Ordering::SeqCst));
        if now.0 as usize >= answered && now.1 > 0 && now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(svc); // kill -9
    let in_flight = crash.held.load(Ordering::SeqCst);
    crash.hold_from.store(usize::MAX, Ordering::SeqCst);
    crash.gate.send_replace(true);
    let restarted = Instant::now();
    let svc = start(&opsline_bin(), dir.path(), url).await;
    let mut empty_after = None;
    while restarted.elapsed() < Duration::from_secs(120) {
        if common::scalar(&db, pending).await == 0 && crash.ids.lock().unwrap().len() >= events as usize {
            empty_after = Some(restarted.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(svc);
    db.close().await.ok();
    let ids = crash.ids.lock().unwrap();
    let distinct: HashSet<&String> = ids.iter().collect();
    let twice = ids.len() - distinct.len();
    eprintln!(
        "crash: {} received, {} distinct, {twice} twice, {in_flight} in flight at the kill, outbox empty {:?} s after the restart",
        ids.len(),
        distinct.len(),
        empty_after
    );
    Crashed { events: events as usize, distinct: distinct.len(), twice, in_flight, empty_after }
}

/// Debian's Alertmanager (`group_by: [alertname]`, `group_wait: 0s`) on CPU1, notifying the same
/// receiver.
struct Alertmanager {
    _guard: common::Service,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// 10,000 (the burst size) distinct alerts, posted 1,000 per request: notifications per second.
    async fn burst(&self, sizes: &Sizes, state: &Shared, round: usize) -> Option<f64> {
        let client = reqwest::Client::new();
        state.lock().unwrap().alerts.clear();
        let started = now_ms();
        let now = Utc::now().to_rfc3339();
        for chunk in (0..sizes.burst).collect::<Vec<_>>().chunks(1000) {
            let alerts: Vec<serde_json::Value> = chunk
                .iter()
                .map(|i| serde_json::json!({"labels": {"alertname": format!("bench-{round}-{i}")}, "startsAt": now}))
                .collect();
            client.post(format!("http://127.0.0.1:{}/api/v2/alerts", self.port)).json(&alerts).send().await.ok()?;
        }
        let ok = wait_for(state, sizes.burst as usize, |r| r.alerts.len(), Duration::from_secs(300)).await;
        let s = state.lock().unwrap();
        let names: HashSet<&String> = s.alerts.iter().map(|(_, n)| n).collect();
        let last = s.alerts.iter().map(|(a, _)| *a).max().unwrap_or(started);
        let secs = (last - started).max(1) as f64 / 1000.0;
        eprintln!("alertmanager: {} alerts ({} distinct) in {secs:.2}s", s.alerts.len(), names.len());
        (ok && names.len() as i64 == sizes.burst).then_some(sizes.burst as f64 / secs)
    }
}

async fn alertmanager(receiver: u16) -> Option<Alertmanager> {
    let bin =
        ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"].into_iter().find(|p| Path::new(p).exists())?;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("am.yml");
    std::fs::write(
        &cfg,
        format!(
            "route:\n  receiver: bench\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: bench\n    webhook_configs:\n      - url: http://127.0.0.1:{receiver}/am\n        send_resolved: false\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = common::pinned("1", bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let _guard = common::Service { child, port };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("http://127.0.0.1:{port}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Alertmanager { _guard, port, _dir: dir })
}

fn crash_row(c: &Crashed) -> Row {
    let ok = c.distinct == c.events && c.twice <= c.in_flight && c.empty_after.is_some_and(|s| s <= 15.0);
    Row {
        goal: format!(
            "crash: `kill -9` mid-delivery of {} webhooks, restart at once (PostgreSQL): every event arrives, ids twice ≤ in flight, outbox empty ≤ 15 s after the restart",
            c.events
        ),
        opsline: format!(
            "{} distinct of {}, {} twice, {} in flight at the kill, empty {}",
            c.distinct,
            c.events,
            c.twice,
            c.in_flight,
            c.empty_after.map_or("not within 120 s".into(), |s| format!("{s:.1} s after the restart"))
        ),
        peer: "—".into(),
        ratio: "—".into(),
        verdict: if ok { "pass".into() } else { "fail".into() },
    }
}

#[actix_web::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let backend = args
        .iter()
        .position(|a| a == "--backend")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "both".into());
    let mut sizes = if quick {
        Sizes { background: 20_000, due: 200, burst: 1_000, crash: 600, idle_secs: 3, rounds: 1 }
    } else {
        Sizes { background: 1_000_000, due: 1_000, burst: 10_000, crash: 2_000, idle_secs: 20, rounds: 3 }
    };
    // `--background N` and `--burst N` override one size, to try a change quickly.
    let size = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)?.parse::<i64>().ok());
    sizes.background = size("--background").unwrap_or(sizes.background);
    sizes.burst = size("--burst").unwrap_or(sizes.burst);
    let state: Shared = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let receiver = listener.local_addr().unwrap().port();
    let data = web::Data::new(state.clone());
    let crashing = Arc::new(Crash {
        ids: Mutex::default(),
        hold_from: AtomicUsize::new(usize::MAX),
        held: AtomicUsize::new(0),
        gate: tokio::sync::watch::channel(false).0,
    });
    let crash_data = web::Data::new(crashing.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(crash_data.clone())
            .route("/hook", web::post().to(hook))
            .route("/am", web::post().to(am))
            .route("/crash", web::post().to(crash_hook))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let mut rows = Vec::new();
    let (mut burst, mut am) = (None, None);
    let peer = alertmanager(receiver).await;
    if backend == "both" || backend == "postgres" {
        match common::seeded(Store::Postgres, "opsline_bench_escalation", sizes.background).await {
            Some(url) => {
                (burst, am) =
                    run_backend("PostgreSQL", &url, &sizes, &state, receiver, &mut rows, Some(peer.as_ref())).await;
                let c = crash(&url, sizes.crash, &crashing, receiver).await;
                rows.push(crash_row(&c));
                common::drop_database("opsline_bench_escalation").await;
            }
            None => eprintln!("PostgreSQL unavailable: skipped"),
        }
    }
    if backend == "both" || backend == "sqlite" {
        state.lock().unwrap().hooks.clear();
        let url = common::seeded(Store::Sqlite, "opsline_bench_escalation", sizes.background).await.unwrap();
        // The burst goal is PostgreSQL's; SQLite measures it only when it runs alone.
        let alone = backend == "sqlite";
        let measure = alone.then_some(peer.as_ref());
        let (b, a) = run_backend("SQLite", &url, &sizes, &state, receiver, &mut rows, measure).await;
        if alone {
            (burst, am) = (b, a);
        }
        let _ = std::fs::remove_file(url.trim_start_matches("sqlite://"));
    }
    drop(peer);
    rows.push(Row {
        goal: format!(
            "escalation burst of {}, deliveries/s: ≥ 1.0× Alertmanager, none lost or duplicated (median of {})",
            sizes.burst, sizes.rounds
        ),
        opsline: burst.map_or("lost or duplicated".into(), |r| format!("{r:.0}/s")),
        peer: am
            .map_or("skipped (prometheus-alertmanager not installed)".into(), |r| format!("{r:.0}/s (Alertmanager)")),
        ratio: match (burst, am) {
            (Some(o), Some(a)) => format!("{:.2}×", o / a),
            _ => "—".into(),
        },
        verdict: match (burst, am) {
            (Some(o), Some(a)) if o >= a => "pass".into(),
            (Some(_), Some(_)) | (None, _) => "fail".into(),
            (Some(_), None) => "skipped".into(),
        },
    });
    common::report("escalation", &rows);
    handle.stop(false).await;
}
