//! `exporter` and `prometheus` checks: conditions on the series a Prometheus exporter serves and
//! on a PromQL answer — against a real node_exporter (Debian's `prometheus-node-exporter`) and a
//! real Prometheus scraping it (once, on PostgreSQL), and against bodies served by a local target
//! (the format's edges, the size limit) on both databases.

use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn};
use crate::receivers::{Program, TargetServer};

async fn run_check(app: &TestApp, spec: Value) -> Value {
    let c = app.post("/api/v1/checks", &app.admin, spec).await;
    assert_eq!(c.status, 201, "{}", c.body);
    let r = app.post(&format!("/api/v1/checks/{}/run", c.body["id"]), &app.admin, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn exporter(name: &str, url: &str, conditions: &[&str]) -> Value {
    json!({"name": name, "kind": "exporter", "url": url, "interval": "1m", "conditions": conditions})
}

#[tokio::test]
async fn a_real_node_exporter_passes_this_machines_facts_and_fails_an_impossible_one_naming_it() {
    let app = spawn().await;
    if !app.db.url.starts_with("postgres") {
        return; // A test that drives an external program runs once, on PostgreSQL.
    }
    let node = node_exporter().ready("/metrics", "prometheus-node-exporter").await;
    let url = format!("{}/metrics", node.url);
    let facts = [
        r#"[METRIC node_filesystem_avail_bytes{mountpoint="/"}] > 1MB"#,
        r#"[RATIO node_filesystem_avail_bytes / node_filesystem_size_bytes {mountpoint="/"}] > 0.1%"#,
        "[METRIC node_memory_MemTotal_bytes] >= 256MiB",
        "[METRIC node_filefd_maximum] >= 1024",
        r#"[METRIC node_uname_info{sysname="Linux"}] == 1"#,
        "[METRIC node_exporter_build_info] == 1",
    ];
    let up = run_check(&app, exporter("node", &url, &facts)).await;
    assert_eq!(up["outcome"], "up", "{up}");

    let down = run_check(&app, exporter("node-huge", &url, &["[METRIC node_memory_MemTotal_bytes] > 100TB"])).await;
    assert_eq!(down["outcome"], "down", "{down}");
    assert_eq!(down["failed_condition"], "[METRIC node_memory_MemTotal_bytes] > 100TB");
    let observed = down["observed"].as_str().unwrap();
    assert!(observed.starts_with("node_memory_MemTotal_bytes = 0.0") && observed.ends_with(" TB"), "{observed}");

    // Every mount at once: fails on the fullest, named with its labels.
    let mounts = run_check(
        &app,
        exporter("mounts", &url, &["[RATIO node_filesystem_avail_bytes / node_filesystem_size_bytes] > 200%"]),
    )
    .await;
    let observed = mounts["observed"].as_str().unwrap();
    assert!(observed.starts_with("node_filesystem_avail_bytes{") && observed.contains("mountpoint="), "{observed}");

    // A real Prometheus scraping the same node_exporter, asked in PromQL.
    let target = node.url.trim_start_matches("http://").to_string();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{target}']\n"
    );
    let prom = Program::start(&["prometheus"], "prometheus", "prometheus.yml", &config, |dir, port| {
        vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    })
    .await;
    let promql = |name: &str, query: &str, condition: &str| {
        json!({"name": name, "kind": "prometheus", "url": prom.url, "query": query, "interval": "1m",
               "conditions": [condition]})
    };
    let c = app.post("/api/v1/checks", &app.admin, promql("scraped", r#"up{job="node"}"#, "[VALUE] == 1")).await;
    assert_eq!(c.status, 201, "{}", c.body);
    let run = format!("/api/v1/checks/{}/run", c.body["id"]);
    // Prometheus scrapes every second: the series appears within a few.
    eventually("Prometheus to see the node_exporter up", std::time::Duration::from_secs(30), || async {
        let r = app.post(&run, &app.admin, json!({})).await;
        (r.body["outcome"] == "up").then_some(())
    })
    .await;
    let memory = run_check(&app, promql("memory", "node_memory_MemTotal_bytes", "[VALUE] > 100TB")).await;
    assert_eq!(memory["outcome"], "down", "{memory}");
    let observed = memory["observed"].as_str().unwrap();
    assert!(
        observed.starts_with("node_memory_MemTotal_bytes{instance=") && observed.contains(r#"job="node""#),
        "{observed}"
    );
    let firing = run_check(&app, promql("none-up", r#"up{job="node"}"#, "[SERIES] == 0")).await;
    assert_eq!(firing["outcome"], "down", "{firing}");
    assert!(firing["observed"].as_str().unwrap().starts_with(r#"1 series: up{instance=""#), "{firing}");
    let bad = run_check(&app, promql("bad-query", "sum(", "[SERIES] == 0")).await;
    assert!(bad["error"].as_str().unwrap_or_default().contains("Prometheus refused the query"), "{bad}");
}

#[tokio::test]
async fn bodies_that_are_not_the_format_or_too_large_are_refused_with_the_reason() {
    let app = spawn().await;
    let target = TargetServer::start().await;
    let url = target.url("/metrics");

    target.answer(200, "# TYPE up gauge\nup 1\nbroken{job=unquoted} 1\n");
    let r = run_check(&app, exporter("broken", &url, &["[METRIC up] == 1"])).await;
    assert_eq!(r["outcome"], "down", "{r}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("line 3") && error.contains("expected `\"`"), "{r}");

    // 50 MB, past the default checks.exporter_max_bytes (16 MiB): refused, not parsed.
    let line = "node_big_series{a=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n";
    target.answer(200, &line.repeat(50_000_000 / line.len()));
    let r = run_check(&app, exporter("big", &url, &["[METRIC up] == 1"])).await;
    assert_eq!(r["outcome"], "down", "{r}");
    assert!(r["error"].as_str().unwrap_or_default().contains("exporter_max_bytes"), "{r}");

    // The format's edges read as documented: escapes, NaN, +Inf, an exemplar, `# EOF`.
    target.answer(
        200,
        "app_info{version=\"1.0 \\\"beta\\\"\"} 1\nratio NaN\nhist_bucket{le=\"+Inf\"} 7 # {trace_id=\"a\"} 1\n# EOF\n",
    );
    let ok = ["[METRIC app_info{version=\"1.0 \\\"beta\\\"\"}] == 1", "[METRIC hist_bucket{le=\"+Inf\"}] >= 7"];
    assert_eq!(run_check(&app, exporter("edges", &url, &ok)).await["outcome"], "up");
    let nan = run_check(&app, exporter("nan", &url, &["[METRIC ratio] < 1"])).await;
    assert_eq!((nan["outcome"].as_str(), nan["observed"].as_str()), (Some("down"), Some("ratio = NaN")), "{nan}");

    // The outbound policy holds for exporters and Prometheus as for every check: cloud metadata
    // is never asked, whichever kind asks.
    for (name, kind) in [("meta-exporter", "exporter"), ("meta-prometheus", "prometheus")] {
        let mut spec = exporter(name, "http://169.254.169.254/metrics", &["[SERIES] == 0"]);
        spec["kind"] = json!(kind);
        if kind == "prometheus" {
            spec["query"] = json!("up");
        }
        let r = run_check(&app, spec).await;
        assert!(r["error"].as_str().unwrap_or_default().contains("checks.denied_networks"), "{r}");
    }

    // A bad condition is refused when the check is made, naming it.
    let r = app.post("/api/v1/checks", &app.admin, exporter("bad", &url, &["[METRIC up] > ten"])).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("not a number"), "{}", r.body);
}

const PROFILES: &str = r#"
[environments.this-host]
description = "what any Linux test machine has"
conditions = [
  '[LABEL node_uname_info sysname] == Linux',
  '[LABEL node_uname_info release] >= 3.10',
  '[COUNT node_cpu_seconds_total{mode="idle"}] >= 1',
  '[METRIC node_memory_MemTotal_bytes] >= 256MiB',
  '[RATIO node_filesystem_avail_bytes / node_filesystem_size_bytes {mountpoint="/"}] > 0.1%',
  '[METRIC node_filefd_maximum] >= 1024',
]

[environments.impossible]
conditions = [
  '[METRIC node_memory_MemTotal_bytes] >= 256MiB',
  '[COUNT node_cpu_seconds_total{mode="idle"}] >= 4096',
]
"#;

fn node_exporter() -> Program {
    Program::spawn(
        &["prometheus-node-exporter", "node_exporter"],
        "prometheus-node-exporter",
        "unused",
        "",
        |_, port| vec![format!("--web.listen-address=127.0.0.1:{port}")],
    )
}

/// Starts an inspection and waits until it ends.
async fn inspect(app: &TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/inspections", &app.admin, body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    eventually("the inspection to end", std::time::Duration::from_secs(30), || async {
        let v = app.get(&format!("/api/v1/inspections/{id}"), &app.admin).await.body;
        (v["status"] != "running").then_some(v)
    })
    .await
}

#[tokio::test]
async fn an_environment_detection_judges_real_hosts_and_names_what_does_not_fit() {
    let app =
        crate::helpers::spawn_with(crate::helpers::Options { overlay: Some(PROFILES.into()), ..Default::default() })
            .await;
    if !app.db.url.starts_with("postgres") {
        return; // A test that drives an external program runs once, on PostgreSQL.
    }
    let node = node_exporter().ready("/metrics", "prometheus-node-exporter").await;
    let url = format!("{}/metrics", node.url);
    let c = app
        .post(
            "/api/v1/checks",
            &app.admin,
            json!({"name": "lab-host", "kind": "exporter", "url": url,
        "interval": "1h", "tags": ["lab"]}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);

    let fits = inspect(&app, json!({"environment": "this-host", "tags": ["lab"]})).await;
    assert_eq!(fits["status"], "passed", "{fits}");
    let host = &fits["results"][0];
    let conditions = host["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 6, "{host}");
    assert!(conditions.iter().all(|c| c["held"] == true && c["observed"].is_string()), "{host}");
    assert_eq!(conditions[0]["observed"], "Linux");

    let misfit = inspect(&app, json!({"environment": "impossible", "tags": ["lab"]})).await;
    assert_eq!(misfit["status"], "failed", "{misfit}");
    let host = &misfit["results"][0];
    assert_eq!((host["name"].as_str(), host["status"].as_str()), (Some("lab-host"), Some("down")), "{host}");
    assert_eq!(host["failed_condition"], r#"[COUNT node_cpu_seconds_total{mode="idle"}] >= 4096"#);
    let cores: u32 = host["observed"].as_str().unwrap().parse().unwrap();
    assert!(cores >= 1, "{host}");
    // A profile judges; it records nothing on the check and opens no ticket.
    let results = app.get(&format!("/api/v1/checks/{}/results", c.body["id"]), &app.admin).await;
    assert_eq!(results.body.as_array().unwrap().len(), 0, "{}", results.body);
    let md = app.text(&format!("/api/v1/inspections/{}?format=markdown", misfit["id"]), &app.admin).await;
    assert!(md.contains("## Environment") && md.contains("| condition | lab-host |") && md.contains("✗ "), "{md}");

    // The same profile again: compared with the previous detection of that profile only.
    let again = inspect(&app, json!({"environment": "this-host", "tags": ["lab"]})).await;
    assert_eq!(again["diff"]["previous_id"], fits["id"], "{again}");
    assert_eq!(again["results"][0]["conditions"][0]["previous"], true);
    // The inventory: the host's facts as its node_exporter showed them, and the last detection.
    let hosts = app.get("/api/v1/hosts", &app.admin).await;
    assert_eq!(hosts.status, 200, "{}", hosts.body);
    let h = &hosts.body[0];
    assert_eq!((h["check"].as_str(), h["facts"]["os_family"].as_str()), (Some("lab-host"), Some("linux")), "{h}");
    assert!(h["facts"]["cpus"].as_u64().is_some_and(|n| n >= 1) && h["facts"]["kernel"].is_string(), "{h}");
    assert!(h["facts"]["exporter"].as_str().unwrap().starts_with("node_exporter "), "{h}");
    assert!(h["facts"]["mounts"].as_array().unwrap().iter().any(|m| m["mountpoint"] == "/"), "{h}");
    assert_eq!(
        (h["last_detection"]["environment"].as_str(), h["last_detection"]["status"].as_str()),
        (Some("this-host"), Some("up"))
    );
    let other = app.customer("无关客户", "standard").await;
    assert_eq!(app.get(&format!("/api/v1/hosts?customer_id={other}"), &app.admin).await.body, json!([]));
    let unknown = app.post("/api/v1/inspections", &app.admin, json!({"environment": "nc99", "tags": ["lab"]})).await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);

    // From the shell: exit 0 when every host fits, 1 when one does not.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(crate::helpers::config_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let test_toml = std::fs::read_to_string(dir.path().join("test.toml")).unwrap();
    std::fs::write(dir.path().join("test.toml"), format!("{test_toml}\n{PROFILES}")).unwrap();
    let cli_on = |environment: &str, tag: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_opsline"))
            .args(["inspect", "--environment", environment, "--tag", tag])
            .env("OPSLINE_ENVIRONMENT", "test")
            .env("OPSLINE_CONFIG_DIR", dir.path())
            .env("OPSLINE_DATABASE__URL", &app.db.url)
            .env("OPSLINE_LOG", "error")
            .output()
            .unwrap()
    };
    let cli = |environment: &str| cli_on(environment, "lab");
    let out = cli("impossible");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("## Environment"), "{stdout}");
    assert_eq!(cli("this-host").status.code(), Some(0));

    // A host whose exporter cannot be read neither fits nor misfits: unknown, the detection
    // inconclusive, exit 2. A profile that does not exist judges nothing: 2 as well, never 1.
    let closed = crate::receivers::ReservedPort::new();
    let gone = app
        .post(
            "/api/v1/checks",
            &app.admin,
            json!({"name": "gone-host", "kind": "exporter", "interval": "1h", "tags": ["gone"],
                "url": format!("http://127.0.0.1:{}/metrics", closed.port)}),
        )
        .await;
    assert_eq!(gone.status, 201, "{}", gone.body);
    let unread = inspect(&app, json!({"environment": "this-host", "tags": ["gone"]})).await;
    assert_eq!(unread["status"], "inconclusive", "{unread}");
    assert_eq!(unread["results"][0]["status"], "unknown", "{unread}");
    assert!(unread["results"][0]["error"].is_string(), "{unread}");
    let out = cli_on("this-host", "gone");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    let out = cli("nc99");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nc99"), "{}", String::from_utf8_lossy(&out.stderr));
}
