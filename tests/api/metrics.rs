//! Metrics end to end: `/metrics` counts committed work and exports the database gauges one
//! instance stores; then two instances on one PostgreSQL database, scraped by a real Prometheus,
//! answer every panel query of every dashboard in `dashboards/` — with exactly the values the
//! seeded activity implies for open tickets, timers in breach and timers at risk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::Duration;
use opsline::services::{delivery, escalation::sweep, gauges};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, eventually, spawn_with};
use crate::receivers::{Program, TargetServer, WebhookReceiver, free_port};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn overlay() -> String {
    format!(
        r#"
[escalation]
public_url = "http://opsline.test"

[[escalation.rules]]
name = "response-breach"
on = "breach"
timer = "response"
notify = ["webhook:ops"]

[[escalation.rules]]
name = "iv-response-warn"
on = "warning"
timer = "response"
levels = ["IV"]
at = "80%"
notify = ["webhook:broken"]

[webhooks.endpoints.ops]
url = "http://127.0.0.1:9/replaced"
secret = "{SECRET}"

[webhooks.endpoints.broken]
url = "http://127.0.0.1:9/replaced"
secret = "{SECRET}"
"#
    )
}

struct Pair {
    a: TestApp,
    b: TestApp,
    ops: WebhookReceiver,
    broken: WebhookReceiver,
}

/// Two instances on one database, with the webhook receivers the rules name.
async fn pair() -> Pair {
    let ops = WebhookReceiver::start(SECRET).await;
    let broken = WebhookReceiver::start(SECRET).await;
    broken.answer_with(&[400; 20]);
    let env = vec![
        ("OPSLINE_WEBHOOKS__ENDPOINTS__OPS__URL".to_string(), ops.url()),
        ("OPSLINE_WEBHOOKS__ENDPOINTS__BROKEN__URL".to_string(), broken.url()),
    ];
    let a = spawn_with(Options { overlay: Some(overlay()), env: env.clone(), ..Default::default() }).await;
    let b = spawn_with(Options { overlay: Some(overlay()), env, db_url: Some(a.db.url.clone()), ..Default::default() })
        .await;
    Pair { a, b, ops, broken }
}

impl Pair {
    fn advance(&self, secs: i64) {
        self.a.clock.advance(Duration::seconds(secs));
        self.b.clock.set(self.a.clock.now());
    }

    async fn sweep(&self, app: &TestApp) {
        while sweep::run_once(&app.state, app.clock.now()).await.unwrap().timers > 0 {}
    }

    async fn deliver(&self, app: &TestApp) {
        while delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap().claimed > 0 {}
    }

    /// Refreshes both instances' gauges: one computes, the other reads what it stored.
    async fn refresh(&self) {
        let ra = gauges::refresh(&self.a.state, self.a.clock.now()).await.unwrap();
        let rb = gauges::refresh(&self.b.state, self.b.clock.now()).await.unwrap();
        assert!(ra.exported && rb.exported);
        assert!(ra.computed != rb.computed, "exactly one instance holds the lease: {ra:?} {rb:?}");
    }
}

async fn open(app: &TestApp, customer: i64, level: &str) -> i64 {
    let r = app
        .post(
            "/api/v1/tickets",
            &app.admin,
            json!({"customer_id": customer, "title": format!("fault {level}"), "description": "", "level": level}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

async fn act(app: &TestApp, id: i64, action: &str, body: Value) {
    let r = app.act(id, action, &app.admin, body).await;
    assert_eq!(r.status, 200, "{action}: {}", r.body);
}

async fn scrape(app: &TestApp) -> String {
    let res = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    res.text().await.unwrap()
}

/// The value of one exposition line, by its exact name and labels.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {series}"))
        .parse()
        .unwrap()
}

/// The seed, on a VIP (24×7) customer from 10:00:
/// - A opens T1 (I) and responds at once; B opens T2 (II), left alone; A opens T3 (III);
///   B opens T4 (IV); A opens T5 (II); B opens T6 (II) at +3 min.
/// - At +9 min: A's sweep fires T4's 80 % warning (to a receiver answering 400: a dead letter);
///   A responds to T3 in time.
/// - At +11 min: A's sweep records the response breaches of T2, T4 and T5 (three webhooks
///   delivered); B responds to T4 late; A cancels T5.
///
/// Afterwards: open tickets I in_progress 1, II open 2 (T2, T6), III in_progress 1, IV
/// in_progress 1; in breach now: II response 1 (T2); at risk: II response 1 (T6 reaches 80 % at
/// +11 min exactly); breaches counted: II response 2, IV response 1.
async fn seed(p: &Pair) {
    let (a, b) = (&p.a, &p.b);
    let vip = a.customer("Acme", "vip").await;
    let t1 = open(a, vip, "I").await;
    act(a, t1, "respond", json!({"message": "on it"})).await;
    let _t2 = open(b, vip, "II").await;
    let t3 = open(a, vip, "III").await;
    let t4 = open(b, vip, "IV").await;
    let t5 = open(a, vip, "II").await;
    p.advance(180);
    let _t6 = open(b, vip, "II").await;
    p.advance(360);
    p.sweep(a).await;
    p.deliver(a).await;
    act(a, t3, "respond", json!({"message": "looking"})).await;
    p.advance(120);
    p.sweep(a).await;
    // The sweeping instance sends what it fired (handed to its own delivery, already leased);
    // B's delivery finds nothing to take.
    p.deliver(b).await;
    p.deliver(a).await;
    act(b, t4, "respond", json!({"message": "sorry, late"})).await;
    act(a, t5, "cancel", json!({"reason": "duplicate"})).await;
    assert_eq!(p.ops.received().len(), 3, "three breach webhooks");
    assert_eq!(p.broken.received().len(), 1, "one warning, refused");
}

#[tokio::test]
async fn metrics_count_committed_work_and_both_instances_export_the_stored_gauges() {
    let p = pair().await;
    let fresh = scrape(&p.a).await;
    assert_eq!(sample(&fresh, r#"opsline_tickets_opened_total{level="II",source="hotline",tier="vip"}"#), 0.0);
    assert_eq!(sample(&fresh, r#"opsline_sla_timers_at_risk{level="IV",timer="plan"}"#), 0.0);
    seed(&p).await;
    p.refresh().await;
    let (ta, tb) = (scrape(&p.a).await, scrape(&p.b).await);
    // Counters: each instance counts what it did.
    assert_eq!(sample(&ta, r#"opsline_tickets_opened_total{level="II",source="hotline",tier="vip"}"#), 1.0);
    assert_eq!(sample(&tb, r#"opsline_tickets_opened_total{level="II",source="hotline",tier="vip"}"#), 2.0);
    assert_eq!(sample(&ta, r#"opsline_sla_breaches_total{level="II",tier="vip",timer="response"}"#), 2.0);
    assert_eq!(sample(&ta, r#"opsline_sla_breaches_total{level="IV",tier="vip",timer="response"}"#), 1.0);
    assert_eq!(sample(&tb, r#"opsline_sla_breaches_total{level="IV",tier="vip",timer="response"}"#), 0.0);
    assert_eq!(sample(&ta, r#"opsline_escalations_total{on="breach",timer="response"}"#), 3.0);
    assert_eq!(sample(&ta, r#"opsline_sla_warnings_total{level="IV",timer="response"}"#), 1.0);
    assert_eq!(sample(&ta, r#"opsline_notifications_total{channel="webhook",outcome="dead"}"#), 1.0);
    assert_eq!(sample(&ta, r#"opsline_notifications_total{channel="webhook",outcome="delivered"}"#), 3.0);
    assert_eq!(sample(&tb, r#"opsline_notifications_total{channel="webhook",outcome="delivered"}"#), 0.0);
    let finished = |t: &str, level: &str, timer: &str, outcome: &str| {
        sample(
            t,
            &format!(
                r#"opsline_sla_timers_finished_total{{level="{level}",outcome="{outcome}",tier="vip",timer="{timer}"}}"#
            ),
        )
    };
    assert_eq!(finished(&ta, "I", "response", "in_time"), 1.0);
    assert_eq!(finished(&ta, "III", "response", "in_time"), 1.0);
    assert_eq!(finished(&tb, "IV", "response", "late"), 1.0);
    assert_eq!(finished(&ta, "II", "response", "breached"), 1.0);
    assert_eq!(finished(&ta, "II", "plan", "cancelled"), 1.0);
    assert_eq!(finished(&ta, "II", "resolution", "cancelled"), 1.0);
    assert_eq!(sample(&ta, r#"opsline_sla_time_to_met_seconds_count{level="III",timer="response"}"#), 1.0);
    assert_eq!(sample(&ta, r#"opsline_sla_time_to_met_seconds_sum{level="III",timer="response"}"#), 540.0);
    // Stored gauges: the same numbers on both instances.
    for t in [&ta, &tb] {
        assert_eq!(sample(t, r#"opsline_tickets_open{level="II",status="open"}"#), 2.0);
        assert_eq!(sample(t, r#"opsline_tickets_open{level="IV",status="in_progress"}"#), 1.0);
        assert_eq!(sample(t, r#"opsline_tickets_open{level="II",status="in_progress"}"#), 0.0);
        assert_eq!(sample(t, r#"opsline_sla_timers_breached{level="II",timer="response"}"#), 1.0);
        assert_eq!(sample(t, r#"opsline_sla_timers_at_risk{level="II",timer="response"}"#), 1.0);
        assert_eq!(sample(t, r#"opsline_sla_timers_at_risk{level="I",timer="plan"}"#), 0.0);
        assert_eq!(sample(t, "opsline_outbox_dead"), 1.0);
        assert_eq!(sample(t, "opsline_outbox_pending"), 0.0);
        assert_eq!(sample(t, "opsline_config_mismatch"), 0.0);
    }
    // Requests count under their route pattern, never the raw path.
    assert!(
        ta.contains(r#"opsline_http_requests_total{method="POST",route="/api/v1/tickets/{id}/respond",status="200"}"#)
    );
    assert!(!ta.contains("route=\"/api/v1/tickets/1/"));
    // A ticket whose timers move on: T6 breaches two minutes later, once the sweep sees it.
    p.advance(121);
    p.sweep(&p.b).await;
    p.refresh().await;
    let tb = scrape(&p.b).await;
    assert_eq!(sample(&tb, r#"opsline_sla_timers_breached{level="II",timer="response"}"#), 2.0);
    assert_eq!(sample(&tb, r#"opsline_sla_timers_at_risk{level="II",timer="response"}"#), 0.0);
    assert_eq!(sample(&tb, r#"opsline_sla_breaches_total{level="II",tier="vip",timer="response"}"#), 1.0);
}

/// The open-ticket gauges and the tickets' numbers are kept by the database itself: whatever
/// writes a ticket row — the API, the system's paths, or an operator's statement — the gauges
/// count what the table holds and every number is `INC-` and the row's id.
#[tokio::test]
async fn the_ticket_gauges_and_numbers_follow_every_write_of_the_table() {
    use sea_orm::{ConnectionTrait, Statement};
    let p = pair().await;
    seed(&p).await;
    // A write no service path made: an operator closes the level IV ticket by hand.
    p.a.state.db.execute_unprepared("UPDATE tickets SET status = 'closed' WHERE level = 'IV'").await.unwrap();
    p.refresh().await;
    let text = scrape(&p.b).await;
    let backend = p.a.state.db.get_database_backend();
    let rows =
        p.a.state
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT level, status, COUNT(*) AS n FROM tickets GROUP BY level, status",
            ))
            .await
            .unwrap();
    let mut table: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in rows {
        table.insert((r.try_get("", "level").unwrap(), r.try_get("", "status").unwrap()), r.try_get("", "n").unwrap());
    }
    assert_eq!(table.get(&("IV".into(), "closed".into())), Some(&1), "{table:?}");
    for level in ["I", "II", "III", "IV"] {
        for status in opsline::domain::ticket::Status::UNRESOLVED {
            let n = table.get(&(level.to_string(), status.to_string())).copied().unwrap_or(0);
            let series = format!(r#"opsline_tickets_open{{level="{level}",status="{status}"}}"#);
            assert_eq!(sample(&text, &series), n as f64, "{series} against the table {table:?}");
        }
    }
    assert_eq!(sample(&text, r#"opsline_tickets_open{level="IV",status="in_progress"}"#), 0.0);
    let numbers =
        p.a.state
            .db
            .query_all_raw(Statement::from_string(backend, "SELECT id, number FROM tickets ORDER BY id"))
            .await
            .unwrap();
    assert_eq!(numbers.len(), 6);
    for r in numbers {
        let (id, number): (i64, String) = (r.try_get("", "id").unwrap(), r.try_get("", "number").unwrap());
        assert_eq!(number, format!("INC-{id:06}"));
    }
}

#[tokio::test]
async fn metrics_listen_moves_the_endpoint_off_the_api_address() {
    let port = free_port();
    let app = spawn_with(Options {
        env: vec![("OPSLINE_METRICS__LISTEN".into(), format!("127.0.0.1:{port}"))],
        ..Default::default()
    })
    .await;
    let on_api = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(on_api.status(), 404);
    let text = app.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"opsline_build_info{version=""#), "{text}");
    // Requests to the API are still counted, and show on the separate endpoint.
    assert!(app.get("/api/v1/checks", &app.admin).await.status.is_success());
    let text = app.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"opsline_http_requests_total{method="GET",route="/api/v1/checks",status="200"} 1"#),
        "{text}"
    );
}

// ---- a real Prometheus over every dashboard ----

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn is_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

fn binary(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()));
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: the test command installs Debian's `prometheus` (apt-get install prometheus)"
        )
    })
}

async fn start_prometheus(targets: &[String]) -> Program {
    let list = targets.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: opsline\n    \
         static_configs:\n      - targets: [{list}]\n"
    );
    Program::start(&["prometheus"], "prometheus", "prometheus.yml", &config, |dir, port| {
        vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    })
    .await
}

/// An instant query; the result vector.
async fn query(prom: &Program, expr: &str) -> Vec<Value> {
    let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/query", prom.url), &[("query", expr)]).unwrap();
    let res = reqwest::Client::new().get(url).send().await;
    let body: Value = res.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "success", "{expr}: {body}");
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Waits (real time: Prometheus scrapes every second) until `expr` has `n` series all ≥ `min`.
async fn wait_for(prom: &Program, expr: &str, n: usize, min: f64) {
    let what = format!("prometheus to see {n} series of {expr} ≥ {min}");
    eventually(&what, std::time::Duration::from_secs(30), || async {
        let r = query(prom, expr).await;
        (r.len() == n && r.iter().all(|s| value(s) >= min)).then_some(())
    })
    .await
}

fn value(series: &Value) -> f64 {
    series["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// Label values (in `keys` order) → value, for the series of a result.
fn by_labels(result: &[Value], keys: &[&str]) -> BTreeMap<String, f64> {
    result
        .iter()
        .map(|s| {
            let k = keys.iter().map(|k| s["metric"][*k].as_str().unwrap_or("").to_string()).collect::<Vec<_>>();
            (k.join("/"), value(s))
        })
        .collect()
}

/// Every dashboard file with its panels (row panels' nested ones included).
fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            out.push((path.file_name().unwrap().to_string_lossy().into_owned(), d));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p.clone());
        out.extend(p["panels"].as_array().cloned().unwrap_or_default());
    }
    out
}

fn exprs(panel: &Value) -> Vec<String> {
    panel["targets"]
        .as_array()
        .map(|ts| ts.iter().filter_map(|t| t["expr"].as_str()).map(String::from).collect())
        .unwrap_or_default()
}

fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
}

#[test]
fn dashboards_follow_the_provisioning_rules() {
    let all = dashboards();
    assert!(all.len() >= 4, "{:?}", all.iter().map(|d| &d.0).collect::<Vec<_>>());
    let mut uids = std::collections::HashSet::new();
    for (file, d) in &all {
        let uid = d["uid"].as_str().unwrap_or_else(|| panic!("{file}: no uid"));
        assert!(uid.len() <= 40 && uids.insert(uid.to_string()), "{file}: uid {uid}");
        assert!(d["id"].is_null(), "{file}: id must be null in files");
        let text = serde_json::to_string(d).unwrap();
        for banned in ["__inputs", "DS_PROMETHEUS", "vector(", "absent(", "or on()"] {
            assert!(!text.contains(banned), "{file} contains {banned}");
        }
        let vars = d["templating"]["list"].as_array().unwrap();
        assert!(vars.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource"), "{file}");
        let mut ids = std::collections::HashSet::new();
        for p in panels(d) {
            let title = p["title"].as_str().unwrap_or("?");
            assert!(ids.insert(p["id"].as_i64().unwrap()), "{file}: duplicate panel id ({title})");
            let g = &p["gridPos"];
            assert!(g["x"].as_i64().unwrap() + g["w"].as_i64().unwrap() <= 24, "{file}: {title} is wider than 24");
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{file}: {title}");
            assert!(!p["description"].as_str().unwrap_or("").is_empty(), "{file}: {title} has no description");
            assert!(p["fieldConfig"]["defaults"]["unit"].is_string(), "{file}: {title} has no unit");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}: {title} has no query");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{file}: {title}");
                assert!(!t["expr"].as_str().unwrap_or("").trim().is_empty(), "{file}: {title}");
            }
        }
    }
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(binary("promtool"));
    cmd.args(args).current_dir(repo()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("promtool");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_answers_from_a_real_prometheus_scraping_two_instances() {
    if !is_postgres() {
        eprintln!("runs once, on PostgreSQL (TEST_DATABASE_URL)");
        return;
    }
    promtool_passes_the_rules_their_unit_tests_and_the_example_config();
    let p = pair().await;
    let _target = three_core_checks_one_of_them_down(&p).await;
    let prom = prometheus_scrapes_both_instances_before_the_counters_rise(&p).await;
    the_seed_and_a_failed_inspection_reach_prometheus(&p, &prom).await;
    the_exposition_lints_clean(&p).await;
    let by_title = every_query_of_every_panel_returns_data(&prom).await;
    the_panels_show_exactly_what_the_seed_implies(&prom, &by_title).await;
}

/// The rules and their unit tests, the example configuration.
fn promtool_passes_the_rules_their_unit_tests_and_the_example_config() {
    for args in [
        &["check", "rules", "dashboards/prometheus/rules.yml"][..],
        &["test", "rules", "dashboards/prometheus/tests.yml"],
        &["check", "config", "dashboards/prometheus/prometheus.yml"],
    ] {
        let (ok, text) = promtool(args, None);
        assert!(ok, "promtool {args:?}: {text}");
    }
}

/// An HTTP, a TCP (nothing listens) and a TLS check on instance A; the HTTP target, kept alive.
async fn three_core_checks_one_of_them_down(p: &Pair) -> TargetServer {
    let target = TargetServer::start().await;
    let tls = crate::checks::tls_server((2027, 1, 1)).await;
    for body in [
        json!({"name": "web", "kind": "http", "url": target.url("/health")}),
        json!({"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": free_port()}),
        json!({"name": "cert", "kind": "tls", "host": "localhost", "port": tls}),
    ] {
        let mut body = body.as_object().unwrap().clone();
        for (k, v) in [("interval", json!("30s")), ("failure_threshold", json!(1)), ("tags", json!(["core"]))] {
            body.insert(k.into(), v);
        }
        let r = p.a.post("/api/v1/checks", &p.a.admin, Value::Object(body)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    target
}

async fn prometheus_scrapes_both_instances_before_the_counters_rise(p: &Pair) -> Program {
    let prom = start_prometheus(&[p.a.address.replace("http://", ""), p.b.address.replace("http://", "")]).await;
    wait_for(&prom, r#"up{job="opsline"}"#, 2, 1.0).await;
    // Counters must rise while Prometheus watches, as in production.
    wait_for(&prom, r#"opsline_tickets_opened_total{level="I",source="hotline",tier="vip"}"#, 2, 0.0).await;
    prom
}

async fn the_seed_and_a_failed_inspection_reach_prometheus(p: &Pair, prom: &Program) {
    seed(p).await;
    opsline::services::checks::runner::run_once(&p.a.state, p.a.clock.now()).await.unwrap();
    let r = p.a.post("/api/v1/inspections", &p.a.admin, json!({"tags": ["core"]})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let inspection = r.body["id"].as_i64().unwrap();
    let i = crate::checks::finished(&p.a, inspection).await;
    assert_eq!(i["status"], "failed", "{i}");
    p.refresh().await;
    let taken = p.a.clock.now().timestamp() as f64;
    wait_for(prom, "opsline_metrics_refresh_timestamp_seconds", 2, taken).await;
    wait_for(prom, r#"opsline_inspections_total{status="failed"}"#, 2, 0.0).await;
    wait_for(prom, r#"sum(opsline_inspections_total{status="failed"})"#, 1, 1.0).await;
}

async fn the_exposition_lints_clean(p: &Pair) {
    let (ok, text) = promtool(&["check", "metrics"], Some(&scrape(&p.a).await));
    assert!(ok && text.trim().is_empty(), "promtool check metrics: {text}");
}

/// Every query of every panel returns data; the results by "file/panel title".
async fn every_query_of_every_panel_returns_data(prom: &Program) -> BTreeMap<String, Vec<Value>> {
    let mut asked = 0;
    let mut by_title: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (file, d) in dashboards() {
        for panel in panels(&d) {
            let title = panel["title"].as_str().unwrap_or("?").to_string();
            for expr in exprs(&panel) {
                let result = query(prom, &substitute(&expr)).await;
                assert!(!result.is_empty(), "{file} / {title}: no data for {expr}");
                asked += 1;
                by_title.entry(format!("{file}/{title}")).or_default().extend(result);
            }
        }
    }
    assert!(asked >= 30, "only {asked} queries");
    by_title
}

/// Exactly what the seed implies — not doubled by two instances.
async fn the_panels_show_exactly_what_the_seed_implies(prom: &Program, by_title: &BTreeMap<String, Vec<Value>>) {
    let panel = |key: &str| by_title.get(key).cloned().unwrap_or_else(|| panic!("no panel {key}"));
    assert_eq!(value(&panel("sla-overview.json/Open tickets")[0]), 5.0);
    let open = by_labels(&panel("sla-overview.json/Open tickets by level"), &["level"]);
    assert_eq!(open, BTreeMap::from([("I".into(), 1.0), ("II".into(), 2.0), ("III".into(), 1.0), ("IV".into(), 1.0)]));
    let nonzero = |m: BTreeMap<String, f64>| m.into_iter().filter(|(_, v)| *v != 0.0).collect::<BTreeMap<_, _>>();
    let breached = by_labels(&panel("sla-overview.json/Timers in breach now"), &["level", "timer"]);
    let timers = opsline::domain::sla::TimerKind::ALL.len();
    assert_eq!(breached.len(), 4 * timers, "every level and timer, a visit's arrival and a rating's callback too");
    assert_eq!(nonzero(breached), BTreeMap::from([("II/response".into(), 1.0)]));
    let risk = by_labels(&panel("sla-overview.json/Timers at risk"), &["level", "timer"]);
    assert_eq!(nonzero(risk), BTreeMap::from([("II/response".into(), 1.0)]));
    // Counters sum over the instances that did the work.
    let breaches = query(prom, "sum by (level) (opsline_sla_breaches_total)").await;
    assert_eq!(nonzero(by_labels(&breaches, &["level"])), BTreeMap::from([("II".into(), 2.0), ("IV".into(), 1.0)]));
    let checks = by_labels(&panel("checks.json/Check status"), &["check"]);
    assert_eq!(checks, BTreeMap::from([("cert".into(), 1.0), ("db".into(), 0.0), ("web".into(), 1.0)]));
    let expiry = query(prom, "max by (check) (opsline_check_certificate_expiry_timestamp_seconds)").await;
    let jan_first = crate::helpers::at("2027-01-01T00:00:00Z").timestamp() as f64;
    assert_eq!(by_labels(&expiry, &["check"]), BTreeMap::from([("cert".into(), jan_first)]));
    assert_eq!(value(&panel("escalations.json/Dead letters")[0]), 1.0);
}

#[test]
fn the_dashboards_directory_holds_provisioning_and_an_example_prometheus_config() {
    let d = repo().join("dashboards");
    for f in ["provisioning/datasources", "provisioning/dashboards"] {
        let yamls = std::fs::read_dir(d.join(f))
            .unwrap()
            .filter(|e| e.as_ref().is_ok_and(|e| Path::new(&e.file_name()).extension().is_some_and(|x| x == "yaml")));
        assert!(yamls.count() >= 1, "{f}");
    }
    let example = std::fs::read_to_string(d.join("prometheus/prometheus.yml")).unwrap();
    assert!(example.contains("job_name: opsline"), "{example}");
}
