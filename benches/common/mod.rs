//! What the benchmarks share: pinning, percentiles, the result table, bulk seeding of tickets
//! and timers, and the release service started as a child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `program` pinned to `cpu` with taskset (unpinned where taskset is missing or `BENCH_NO_PIN`
/// is set).
pub fn pinned(cpu: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    if Path::new("/usr/bin/taskset").exists() && std::env::var("BENCH_NO_PIN").is_err() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu).arg(program);
        c
    } else {
        Command::new(program)
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One line of a benchmark's result table.
pub struct Row {
    pub goal: String,
    pub opsline: String,
    pub peer: String,
    pub ratio: String,
    pub verdict: String,
}

/// Prints the table with the machine's load and writes it to `$CARGO_TARGET_DIR/bench-NAME.md`.
/// In quick mode (small sizes on the debug build) the figures only show that the harness works:
/// the verdict column says so instead of pass or fail.
pub fn report(name: &str, rows: &[Row]) -> String {
    let quick = std::env::args().any(|a| a == "--quick");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut table = String::from("| goal | Opsline | peer | ratio | verdict |\n|---|---|---|---|---|\n");
    for r in rows {
        let verdict = if quick { "smoke only" } else { r.verdict.as_str() };
        table.push_str(&format!("| {} | {} | {} | {} | {verdict} |\n", r.goal, r.opsline, r.peer, r.ratio));
    }
    table.push_str(&format!("\nmachine load average at the end: {}\n", load.trim()));
    println!("{table}");
    let out = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target"))
        .join(format!("bench-{name}.md"));
    let _ = std::fs::write(&out, &table);
    table
}

/// `?` placeholders, numbered for PostgreSQL.
pub fn sql(backend: DatabaseBackend, s: &str) -> String {
    if backend != DatabaseBackend::Postgres {
        return s.to_string();
    }
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

pub async fn exec(db: &DatabaseConnection, s: &str, values: Vec<Value>) {
    let b = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(b, sql(b, s), values)).await.unwrap_or_else(|e| panic!("{s}: {e}"));
}

pub async fn scalar(db: &DatabaseConnection, s: &str) -> i64 {
    let b = db.get_database_backend();
    let row = db.query_one_raw(Statement::from_string(b, s.to_string())).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// A VIP customer on the current `24x7` calendar and `standard` policy versions: (customer,
/// calendar version, policy version).
pub async fn bench_customer(db: &DatabaseConnection) -> (i64, i64, i64) {
    let cal = scalar(db, "SELECT MAX(id) FROM config_versions WHERE kind = 'calendar' AND name = '24x7'").await;
    let pol = scalar(db, "SELECT MAX(id) FROM config_versions WHERE kind = 'sla_policy' AND name = 'standard'").await;
    let t0 = Utc::now();
    exec(
        db,
        "INSERT INTO customers (name, key, tier, calendar, sla_policy, created_at, updated_at) \
         VALUES ('Bench', ?, 'vip', '24x7', 'standard', ?, ?)",
        vec![format!("bench-{}", now_ms()).into(), t0.into(), t0.into()],
    )
    .await;
    (scalar(db, "SELECT MAX(id) FROM customers").await, cal, pol)
}

/// What [`seed`] writes: `count` open level-I tickets titled `PREFIX-1…`, one timer each.
#[derive(Clone, Copy)]
pub struct Seed<'a> {
    pub prefix: &'a str,
    pub count: i64,
    pub customer: i64,
    pub calendar: i64,
    pub policy: i64,
    pub kind: &'a str,
    pub target: &'a str,
    pub started: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub next_fire: DateTime<Utc>,
}

impl<'a> Seed<'a> {
    /// Tickets that nothing touches during a run: resolution timers due in 30 days.
    pub fn background(prefix: &'a str, count: i64, contract: (i64, i64, i64), t0: DateTime<Utc>) -> Self {
        let (customer, calendar, policy) = contract;
        let far = t0 + chrono::Duration::days(30);
        Seed {
            prefix,
            count,
            customer,
            calendar,
            policy,
            kind: "resolution",
            target: "3d",
            started: t0,
            due: far,
            next_fire: far,
        }
    }
}

/// Bulk SQL: the tickets in one statement, their timers in another (for the ids above the
/// largest before; the bench is the only writer meanwhile). The database numbers the tickets and
/// counts them into the gauges. The timers' at-risk instant is 80 % of the way from start to
/// deadline, as the service computes it on `24x7`.
pub async fn seed(db: &DatabaseConnection, s: Seed<'_>) {
    let risk = s.started + (s.due - s.started) * 4 / 5;
    let before = scalar(db, "SELECT COALESCE(MAX(id), 0) FROM tickets").await;
    exec(
        db,
        "INSERT INTO tickets (number, customer_id, title, description, level, level_source, classification, status, source, \
         reported_at, created_at, updated_at, version, urgency_bucket, urgency_key, breached) \
         WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?) \
         SELECT 'seed-' || ? || x, ?, ? || x, '', 'I', 'manual', '{\"level\":\"I\",\"rule\":null,\"matched\":[]}', 'open', 'hotline', \
         ?, ?, ?, 1, 0, ?, false FROM g",
        vec![
            s.count.into(),
            format!("{}-", s.prefix).into(),
            s.customer.into(),
            format!("{}-", s.prefix).into(),
            s.started.into(),
            s.started.into(),
            s.started.into(),
            s.due.timestamp().into(),
        ],
    )
    .await;
    exec(
        db,
        "INSERT INTO sla_timers (ticket_id, kind, cycle, level, target, plan_target, started_at, calendar_version_id, policy_version_id, \
         state, due_at, breached, history, next_fire_at, risk_at, created_at, updated_at) \
         SELECT id, ?, 1, 'I', ?, '30m', ?, ?, ?, 'running', ?, false, '[]', ?, ?, ?, ? FROM tickets WHERE id > ?",
        vec![
            s.kind.into(),
            s.target.into(),
            s.started.into(),
            s.calendar.into(),
            s.policy.into(),
            s.due.into(),
            s.next_fire.into(),
            risk.into(),
            s.started.into(),
            s.started.into(),
            before.into(),
        ],
    )
    .await;
}

/// CPU ticks (user + system) a process has used.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// The binary under test: `OPSLINE_BIN`, else the one cargo built for this bench.
pub fn opsline_bin() -> PathBuf {
    PathBuf::from(std::env::var("OPSLINE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_opsline").to_string()))
}

/// A copy of `config/` with `extra` as the development overlay.
pub fn config_dir(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    std::fs::write(dir.path().join("development.toml"), extra).unwrap();
    dir
}

/// The service as a child process, killed when dropped.
pub struct Service {
    pub child: Child,
    pub port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `opsline serve` on CPU1 with one HTTP worker and waits until it is ready.
pub async fn start(bin: &Path, dir: &Path, url: &str) -> Service {
    let port = free_port();
    let child = pinned("1", bin)
        .arg("serve")
        .env("OPSLINE_CONFIG_DIR", dir)
        .env("OPSLINE_DATABASE__URL", url)
        .env("OPSLINE_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("OPSLINE_HTTP__WORKERS", "1")
        .env("OPSLINE_LOG", std::env::var("BENCH_OPSLINE_LOG").unwrap_or_else(|_| "warn".into()))
        // The service logs to standard output: shown only when a log filter was asked for.
        .stdout(if std::env::var("BENCH_OPSLINE_LOG").is_ok() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("start opsline");
    let svc = Service { child, port };
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return svc;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("opsline did not become ready");
}

/// What `wrk --latency` measured.
#[derive(Debug, Clone, Copy)]
pub struct Wrk {
    pub rps: f64,
    pub p99_ms: f64,
    /// Non-2xx answers or socket errors were seen.
    pub errors: bool,
}

fn wrk_ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().ok().map(|x| x * scale)
}

/// `wrk -t1 -cCONNS -dSECSs --latency [-s SCRIPT] URL` on CPU0; `None` when wrk is missing.
pub fn wrk(url: &str, conns: u32, secs: u64, script: Option<&Path>) -> Option<Wrk> {
    let mut cmd = pinned("0", "wrk");
    cmd.args(["-t1", &format!("-c{conns}"), &format!("-d{secs}s"), "--latency"]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let errors = text.contains("Non-2xx") || text.contains("Socket errors");
    if errors {
        eprintln!("wrk saw errors against {url}:\n{text}");
    }
    let p99 =
        text.lines().find(|l| l.trim_start().starts_with("99%")).and_then(|l| wrk_ms(l.split_whitespace().nth(1)?))?;
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())?;
    Some(Wrk { rps, p99_ms: p99, errors })
}

/// A wrk script that POSTs `body` as JSON with these extra headers.
pub fn post_script(dir: &Path, name: &str, body: &str, headers: &[(&str, &str)]) -> PathBuf {
    let mut s = String::from("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n");
    for (k, v) in headers {
        s.push_str(&format!("wrk.headers[\"{k}\"] = \"{v}\"\n"));
    }
    s.push_str(&format!("wrk.body = '{body}'\n"));
    let path = dir.join(name);
    std::fs::write(&path, s).unwrap();
    path
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The load averages, for the report of each sample.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sum of every sample of `/metrics` whose line starts with `prefix`.
pub async fn metric_sum(port: u16, prefix: &str) -> f64 {
    let Ok(res) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else { return 0.0 };
    let text = res.text().await.unwrap_or_default();
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum()
}

/// Which database a seeded copy is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Postgres,
    Sqlite,
}

/// The bench customer and the contract versions of a seeded database (see [`seeded`]).
pub async fn bench_contract(db: &DatabaseConnection) -> (i64, i64, i64) {
    let cal = scalar(db, "SELECT MAX(id) FROM config_versions WHERE kind = 'calendar' AND name = '24x7'").await;
    let pol = scalar(db, "SELECT MAX(id) FROM config_versions WHERE kind = 'sla_policy' AND name = 'standard'").await;
    (scalar(db, "SELECT MAX(id) FROM customers WHERE name = 'Bench'").await, cal, pol)
}

/// What a seeded database's name says: the seed's shape, the schema and the day it was made
/// (its background deadlines lie 30 days after that), so that a stale one is never reused.
fn seed_tag(count: i64) -> String {
    use migration::MigratorTrait;
    format!("{count}_s{}_v2_{}", migration::Migrator::migrations().len(), Utc::now().format("%Y%m%d"))
}

/// Migrates `url`, registers the configuration's versions, adds the bench customer and `count`
/// background tickets (resolution timers due in 30 days), indexes them for search, and vacuums.
/// Indexed here, once: a service started on an unindexed copy indexes every ticket in the
/// background (`services::search::backfill`), minutes of work at a million tickets that every
/// figure measured meanwhile (idle CPU, lateness, `/metrics`) would carry.
async fn build_seed(url: &str, count: i64) {
    let mut env = std::collections::BTreeMap::new();
    env.insert("OPSLINE_DATABASE__URL".to_string(), url.to_string());
    let dir = config_dir("[log]\nlevel = \"warn\"\n");
    let source =
        opsline::config::ConfigSource { dir: dir.path().to_path_buf(), environment: "development".into(), env };
    let config = opsline::config::Config::load(&source).unwrap();
    let state = opsline::startup::prepare(config, opsline::clock::Clock::System, true).await.unwrap();
    let db = &state.db;
    let started = std::time::Instant::now();
    seed(db, Seed::background("BG", count, bench_customer(db).await, Utc::now())).await;
    opsline::services::search::backfill(&state, Utc::now()).await.unwrap();
    // The seed's gauge deltas folded here, once, rather than by the first refresh of every copy.
    opsline::services::gauges::fold_counts(db).await.unwrap();
    let vacuum = if db.get_database_backend() == DatabaseBackend::Postgres { "VACUUM ANALYZE" } else { "VACUUM" };
    db.execute_unprepared(vacuum).await.unwrap();
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
    }
    state.db.close().await.ok();
    eprintln!("seeded {count} background tickets in {:.1}s (kept for reuse)", started.elapsed().as_secs_f64());
}

/// A fresh database named `name` holding the schema, the bench customer and `count` background
/// tickets, copied from a seed made once and reused by every bench and run that asks for the
/// same count: on PostgreSQL a template database (`CREATE DATABASE … TEMPLATE`), on SQLite a
/// file under the target directory. Returns its URL, or `None` without PostgreSQL.
pub async fn seeded(store: Store, name: &str, count: i64) -> Option<String> {
    let tag = seed_tag(count);
    match store {
        Store::Postgres => {
            let admin = std::env::var("BENCH_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let conn = sea_orm::Database::connect(&admin).await.ok()?;
            let base = admin.rsplit_once('/')?.0.to_string();
            let tpl = format!("opsline_bench_tpl_{tag}");
            let exists = |db: String| {
                let conn = &conn;
                async move {
                    let q = format!("SELECT COUNT(*) FROM pg_database WHERE datname = '{db}'");
                    scalar(conn, &q).await > 0
                }
            };
            if !exists(tpl.clone()).await {
                // Made under another name and renamed when complete, so a half-made seed is never used.
                let building = format!("{tpl}_building");
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await.unwrap();
                conn.execute_unprepared(&format!("CREATE DATABASE {building}")).await.unwrap();
                build_seed(&format!("{base}/{building}"), count).await;
                conn.execute_unprepared(&format!("ALTER DATABASE {building} RENAME TO {tpl}")).await.unwrap();
            }
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {tpl}")).await.unwrap();
            conn.close().await.ok();
            Some(format!("{base}/{name}"))
        }
        Store::Sqlite => {
            let target =
                std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("target"));
            std::fs::create_dir_all(&target).unwrap();
            let file = target.join(format!("bench-seed-{tag}.db"));
            if !file.exists() {
                let building = target.join(format!("bench-seed-{tag}.building.db"));
                let _ = std::fs::remove_file(&building);
                build_seed(&format!("sqlite://{}?mode=rwc", building.display()), count).await;
                std::fs::rename(&building, &file).unwrap();
            }
            let copy = std::env::temp_dir().join(format!("{name}-{}.db", now_ms()));
            std::fs::copy(&file, &copy).unwrap();
            Some(format!("sqlite://{}", copy.display()))
        }
    }
}

/// Drops a PostgreSQL database a bench made, unless `BENCH_KEEP_DB` is set (to look with psql).
pub async fn drop_database(name: &str) {
    if std::env::var_os("BENCH_KEEP_DB").is_some() {
        return;
    }
    let admin =
        std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if let Ok(conn) = sea_orm::Database::connect(&admin).await {
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok();
        conn.close().await.ok();
    }
}
