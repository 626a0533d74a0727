#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Health-check probing against Debian's `prometheus-blackbox-exporter`, same run, same target:
//!
//! 1. **HTTP probes per second**, a new connection per probe: Opsline's prober (the library code
//!    the service runs, in a child process on CPU1, 32 probes in flight) against blackbox_exporter
//!    with its package defaults (`http_2xx`, on CPU1) driven by `wrk -c32` on CPU0; the target, an
//!    HTTP server in this process, on CPU0.
//! 2. **TCP probes per second**, the same with `tcp_connect`.
//! 3. **Exporter probes per second**: what node_exporter served on a test machine
//!    (`tests/fixtures/`), served by the target, fetched over a new connection each, parsed whole
//!    and judged by ten conditions (no peer: Prometheus scrapes on its interval).
//! 4. **Start jitter**: the release service with 1,000 http checks at a 1 s interval (PostgreSQL);
//!    the target timestamps every request; jitter = |gap between two requests of a check − 1 s|;
//!    p99 and the service's CPU.
//!
//! `cargo bench --bench checks -- [--quick] [--jitter-only]` (quick: one short round, 200 checks).
//! Each goal runs Opsline and the peer alternately three times; medians are reported. Writes the
//! table to `$CARGO_TARGET_DIR/bench-checks.md` (or `target/`).

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::{Row, free_port, median, now_ms, pinned};
use opsline::checks::probe::Prober;
use opsline::checks::spec::CheckSpec;

type Arrivals = Arc<Mutex<HashMap<String, Vec<i64>>>>;

/// What node_exporter 1.5.0 served on a test machine (57 KB, 507 series).
const NODE_EXPORTER: &str = include_str!("../tests/fixtures/node_exporter-1.5.0.prom");

/// Ten conditions an environment check would ask of a host, all true of [`NODE_EXPORTER`].
const NODE_CONDITIONS: [&str; 10] = [
    r#"[METRIC node_filesystem_avail_bytes{mountpoint="/"}] > 1GB"#,
    "[RATIO node_filesystem_avail_bytes / node_filesystem_size_bytes] > 1%",
    "[METRIC node_memory_MemTotal_bytes] >= 1GiB",
    "[RATIO node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes] > 5%",
    "[METRIC node_timex_offset_seconds] < 0.5",
    "[METRIC node_filefd_maximum] >= 65535",
    "[METRIC node_load1] < 1000",
    r#"[METRIC node_uname_info{sysname="Linux"}] == 1"#,
    r#"[METRIC node_os_info{id="debian"}] == 1"#,
    "[METRIC node_exporter_build_info] == 1",
];

async fn target(state: web::Data<Arrivals>, req: HttpRequest) -> HttpResponse {
    let path = req.path();
    if path == "/node" {
        return HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(NODE_EXPORTER);
    }
    if path.starts_with("/c/") {
        state.lock().unwrap().entry(path.to_string()).or_default().push(now_ms());
    }
    HttpResponse::Ok().body("ok")
}

/// Child mode: probe `url` (http) or `host:port` (tcp) with 32 in flight for `secs`; print the count.
async fn prober_mode(kind: &str, target: &str, secs: u64) {
    let spec: CheckSpec = serde_json::from_value(match kind {
        "http" => serde_json::json!({"kind": "http", "url": target, "interval": "1s"}),
        "exporter" => {
            serde_json::json!({"kind": "exporter", "url": target, "interval": "1s", "conditions": NODE_CONDITIONS})
        }
        _ => {
            let (h, p) = target.rsplit_once(':').unwrap();
            serde_json::json!({"kind": "tcp", "host": h, "port": p.parse::<u16>().unwrap(), "interval": "1s"})
        }
    })
    .unwrap();
    let def = Arc::new(spec.compile().unwrap());
    let prober = Arc::new(Prober::new(vec![], 0).unwrap());
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (def, prober) = (def.clone(), prober.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < until {
                let r = prober.run(&def, 0).await;
                if r.verdict == opsline::domain::check::health::Verdict::Pass { ok += 1 } else { failed += 1 }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed += f;
    }
    println!("{ok} {failed}");
}

fn opsline_rate(kind: &str, target: &str, secs: u64) -> f64 {
    let exe = std::env::current_exe().unwrap();
    let out = pinned("1", exe.to_str().unwrap())
        .args(["--prober", kind, target, &secs.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
    let (ok, failed) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    assert_eq!(failed, 0, "probes failed: {text}");
    ok as f64 / secs as f64
}

/// blackbox_exporter as a child process.
type Blackbox = common::Service;

fn blackbox() -> Option<Blackbox> {
    let bin = ["/usr/bin/prometheus-blackbox-exporter", "/usr/bin/blackbox_exporter"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let port = free_port();
    let child = pinned("1", bin)
        .args(["--config.file=/etc/prometheus/blackbox.yml", &format!("--web.listen-address=127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Blackbox { child, port });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn wrk_rate(url: &str, secs: u64) -> Option<f64> {
    let out = pinned("0", "wrk").args(["-t1", "-c32", &format!("-d{secs}s"), url]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        eprintln!("wrk saw errors: {text}");
    }
    text.lines().find_map(|l| l.strip_prefix("Requests/sec:")?.trim().parse().ok())
}

/// A blackbox probe answers 200 whether or not the probe succeeded; check it once first.
async fn blackbox_ok(bb: &Blackbox, module: &str, target: &str) -> bool {
    let url = format!("http://127.0.0.1:{}/probe?module={module}&target={target}", bb.port);
    match reqwest::get(&url).await {
        Ok(r) => r.text().await.is_ok_and(|b| b.lines().any(|l| l.trim() == "probe_success 1")),
        Err(_) => false,
    }
}

fn rate_row(goal: &str, ours: Vec<f64>, theirs: Vec<f64>) -> Row {
    let (o, p) = (median(ours), median(theirs));
    let ratio = if p > 0.0 { o / p } else { 0.0 };
    Row {
        goal: goal.into(),
        opsline: format!("{o:.0}/s"),
        peer: if p > 0.0 { format!("{p:.0}/s (blackbox_exporter)") } else { "skipped (not installed)".into() },
        ratio: if p > 0.0 { format!("{ratio:.2}×") } else { "—".into() },
        verdict: if p == 0.0 {
            "reported".into()
        } else if ratio >= 1.5 {
            "pass (stretch met)".into()
        } else if ratio >= 1.0 {
            "pass".into()
        } else {
            "fail".into()
        },
    }
}

async fn jitter(checks: usize, secs: u64, target_port: u16, arrivals: &Arrivals) -> Row {
    let admin =
        std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let Ok(conn) = sea_orm::Database::connect(&admin).await else {
        return Row {
            goal: "start jitter".into(),
            opsline: "skipped: no PostgreSQL".into(),
            peer: "—".into(),
            ratio: "—".into(),
            verdict: "skipped".into(),
        };
    };
    use sea_orm::ConnectionTrait;
    conn.execute_unprepared("DROP DATABASE IF EXISTS opsline_bench_checks WITH (FORCE)").await.unwrap();
    conn.execute_unprepared("CREATE DATABASE opsline_bench_checks").await.unwrap();
    let url = format!("{}/opsline_bench_checks", admin.rsplit_once('/').unwrap().0);
    let mut toml = String::from("[log]\nlevel = \"warn\"\n\n[checks]\ndenied_networks = []\n");
    for i in 0..checks {
        toml.push_str(&format!(
            "\n[checks.c{i}]\nkind = \"http\"\nurl = \"http://127.0.0.1:{target_port}/c/{i}\"\ninterval = \"1s\"\ntimeout_ms = 5000\n"
        ));
    }
    let dir = common::config_dir(&toml);
    let svc = common::start(&common::opsline_bin(), dir.path(), &url).await;
    // Settle, then measure a clean window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    arrivals.lock().unwrap().clear();
    let pid = svc.child.id();
    let (t0, c0) = (Instant::now(), common::cpu_ticks(pid));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = (common::cpu_ticks(pid) - c0) as f64 / 100.0 / t0.elapsed().as_secs_f64() * 100.0;
    drop(svc);
    conn.execute_unprepared("DROP DATABASE IF EXISTS opsline_bench_checks WITH (FORCE)").await.ok();
    let map = arrivals.lock().unwrap().clone();
    let mut jit: Vec<i64> = Vec::new();
    let mut probes = 0;
    for times in map.values() {
        probes += times.len();
        for w in times.windows(2) {
            jit.push(((w[1] - w[0]) - 1000).abs());
        }
    }
    jit.sort_unstable();
    let p99 = jit.get(jit.len().saturating_sub(1) * 99 / 100).copied().unwrap_or(-1);
    let expected = checks as u64 * secs;
    Row {
        goal: format!("probe start jitter, {checks} checks at 1 s (PostgreSQL)"),
        opsline: format!("p99 {p99} ms, {probes} probes of {expected} expected, CPU {cpu:.0}% of a core"),
        peer: "—".into(),
        ratio: "—".into(),
        verdict: if (0..=50).contains(&p99) && cpu <= 100.0 && probes as u64 >= expected * 9 / 10 {
            "pass".into()
        } else {
            "fail".into()
        },
    }
}

#[actix_web::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--prober") {
        prober_mode(&args[i + 1], &args[i + 2], args[i + 3].parse().unwrap()).await;
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (secs, checks, jitter_secs, rounds) = if quick { (2, 200, 6, 1) } else { (10, 1000, 30, 3) };
    // This process (the target) and wrk share CPU0; the probers run on CPU1.
    let _ = Command::new("taskset").args(["-cp", "0", &std::process::id().to_string()]).stdout(Stdio::null()).status();
    let arrivals: Arrivals = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = listener.local_addr().unwrap().port();
    let data = web::Data::new(arrivals.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(target)))
        .workers(1)
        .backlog(4096)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let http_target = format!("http://127.0.0.1:{tport}/");
    let tcp_target = format!("127.0.0.1:{tport}");
    let bb = blackbox();
    let mut rows = Vec::new();
    let kinds = if args.iter().any(|a| a == "--jitter-only") {
        vec![]
    } else {
        vec![("http", "http_2xx", http_target.clone()), ("tcp", "tcp_connect", tcp_target.clone())]
    };
    for (kind, module, target) in kinds {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let bb_ok = match &bb {
            Some(b) => blackbox_ok(b, module, &target).await,
            None => false,
        };
        if bb.is_some() && !bb_ok {
            eprintln!("blackbox_exporter's {module} probe of {target} does not succeed: its figure is skipped");
        }
        for round in 0..rounds {
            let (t, k) = (target.clone(), kind.to_string());
            ours.push(tokio::task::spawn_blocking(move || opsline_rate(&k, &t, secs)).await.unwrap());
            if let (Some(b), true) = (&bb, bb_ok) {
                let url = format!("http://127.0.0.1:{}/probe?module={module}&target={target}", b.port);
                let u = url.clone();
                if let Some(r) = tokio::task::spawn_blocking(move || wrk_rate(&u, secs)).await.unwrap() {
                    theirs.push(r);
                }
            }
            eprintln!("{kind} round {}: opsline {:.0}/s, blackbox {:?}", round + 1, ours[round], theirs.last());
        }
        rows.push(rate_row(&format!("{} probes per second, new connection each", kind.to_uppercase()), ours, theirs));
    }
    drop(bb);
    if !args.iter().any(|a| a == "--jitter-only") {
        let url = format!("http://127.0.0.1:{tport}/node");
        let mut ours = Vec::new();
        for round in 0..rounds {
            let u = url.clone();
            ours.push(tokio::task::spawn_blocking(move || opsline_rate("exporter", &u, secs)).await.unwrap());
            eprintln!("exporter round {}: opsline {:.0}/s", round + 1, ours[round]);
        }
        rows.push(Row {
            goal: "exporter probes per second: node_exporter's body (57 KB, 507 series) served locally, a new \
                   connection each, parsed whole, 10 conditions"
                .into(),
            opsline: format!("{:.0}/s", median(ours)),
            peer: "— (Prometheus scrapes on its interval: its scrape rate cannot be driven)".into(),
            ratio: "—".into(),
            verdict: "reported".into(),
        });
    }
    rows.push(jitter(checks, jitter_secs, tport, &arrivals).await);
    common::report("checks", &rows);
    handle.stop(false).await;
}
