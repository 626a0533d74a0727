//! Configuration: overlays, environment overrides, `check-config`, secrets, schema versions and
//! the command line.

use std::collections::BTreeMap;
use std::process::Command;

use opsline::config::{Config, ConfigSource};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{Options, config_dir, source, spawn, spawn_with};

fn temp_config(overlay: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(config_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(dir.path().join("test.toml"), overlay).unwrap();
    dir
}

fn load(dir: &std::path::Path, env: &[(&str, &str)]) -> Result<Config, opsline::config::ConfigError> {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::load(&ConfigSource { dir: dir.to_path_buf(), environment: "test".into(), env })
}

#[tokio::test]
async fn a_classification_rule_added_in_an_overlay_matches_and_download_is_not_down() {
    let app = spawn_with(Options {
        overlay: Some("[classification.rules.database]\nlevel = \"II\"\nphrases = [\"deadlock\", \"死锁\"]\n".into()),
        ..Default::default()
    })
    .await;
    let r = app.post("/api/v1/classify", &app.admin, json!({"title": "Deadlock in orders", "description": ""})).await;
    assert_eq!(r.body, json!({"level": "II", "rule": "database", "matched": ["deadlock"]}));
    let shipped = app.post("/api/v1/classify", &app.admin, json!({"title": "系统崩溃", "description": ""})).await;
    assert_eq!(shipped.body["level"], "I");
    let download = app
        .post("/api/v1/classify", &app.admin, json!({"title": "cannot download the report", "description": ""}))
        .await;
    assert_ne!(download.body["rule"], "outage");
    assert_eq!(download.body["matched"], json!([]));
    let down = app.post("/api/v1/classify", &app.admin, json!({"title": "the site is down", "description": ""})).await;
    assert_eq!((down.body["level"].as_str(), down.body["rule"].as_str()), (Some("I"), Some("outage")));
}

#[test]
fn environment_variables_override_files_and_come_last() {
    let dir =
        temp_config("[web]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n[http]\nlisten = \"127.0.0.1:7000\"\n");
    let c =
        load(dir.path(), &[("OPSLINE_HTTP__LISTEN", "0.0.0.0:9000"), ("OPSLINE_DATABASE__URL", "postgres://u:p@db/x")])
            .unwrap();
    assert_eq!(c.settings.http.listen, "0.0.0.0:9000");
    assert_eq!(c.settings.database.url.expose(), "postgres://u:p@db/x");
    let file_only = load(dir.path(), &[]).unwrap();
    assert_eq!(file_only.settings.http.listen, "127.0.0.1:7000");
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let dir = temp_config(
        r#"
[web]
secret_key = "short"
[http]
listne = "x"
[calendars.business]
timezone = "Mars/Olympus"
[calendars.business.hours]
mon = ["09:00-12:00", "11:00-13:00"]
tue = ["25:00-26:00"]
[sla_policies.fast.I]
response = "0m"
plan = "30m"
resolution = "end_of_day"
[tiers]
vip = { calendar = "nowhere", sla_policy = "standard" }
[metrics]
listen = "everywhere"
refresh_secs = 0
"#,
    );
    let err = load(dir.path(), &[("OPSLINE_HTTP__MAX_BODY_BYTES", "lots")]).unwrap_err();
    let text = err.to_string();
    for key in ["http.listne", "OPSLINE_HTTP__MAX_BODY_BYTES"] {
        assert!(text.contains(key), "missing {key} in:\n{text}");
    }
    // With the type error fixed, every semantic problem shows up together.
    let err = load(dir.path(), &[]).unwrap_err().to_string();
    for key in [
        "http.listne",
        "web.secret_key",
        "calendars.business.timezone",
        "calendars.business.hours.mon",
        "calendars.business.hours.tue[0]",
        "sla_policies.fast.I.response",
        "sla_policies.fast.II",
        "tiers.vip.calendar",
        "metrics.listen",
        "metrics.refresh_secs",
    ] {
        assert!(err.contains(key), "missing {key} in:\n{err}");
    }
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let dir = temp_config("[web]\nsecret_key = \"a-very-secret-signing-key-0123456789\"\n");
    let c = load(dir.path(), &[("OPSLINE_DATABASE__URL", "postgres://app:hunter2hunter2@db/x")]).unwrap();
    let debug = format!("{:?}", c.settings);
    assert!(!debug.contains("a-very-secret-signing-key"));
    assert!(!debug.contains("hunter2hunter2"));
}

#[test]
fn a_secret_can_come_from_a_file() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "from-a-file-0123456789-0123456789\n").unwrap();
    let dir = temp_config(&format!("[web]\nsecret_key = {{ secret_file = \"{}\" }}\n", secret.path().display()));
    let c = load(dir.path(), &[]).unwrap();
    assert_eq!(c.settings.web.secret_key.unwrap().expose(), "from-a-file-0123456789-0123456789");
}

fn opsline(args: &[&str], config: &std::path::Path, db_url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_opsline"))
        .args(args)
        .env("OPSLINE_CONFIG_DIR", config)
        .env("OPSLINE_ENVIRONMENT", "test")
        .env("OPSLINE_DATABASE__URL", db_url)
        .env("OPSLINE_LOG", "error")
        .output()
        .unwrap()
}

#[tokio::test]
async fn check_config_exits_1_on_errors_and_0_with_warnings_printed() {
    let db = crate::helpers::TestDb::new().await;
    let warn = temp_config(
        "[web]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n[sla_policies.standard.IV]\nresponse = \"10m\"\nplan = \"2h\"\nresolution = \"1h\"\n",
    );
    let out = opsline(&["check-config"], warn.path(), &db.url);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("warning: sla_policies.standard.IV.resolution"), "{text}");
    let bad =
        temp_config("[web]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n[tickets]\nmax_backdate = \"soon\"\n");
    let out = opsline(&["check-config"], bad.path(), &db.url);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("error: tickets.max_backdate"), "{text}");
}

#[test]
fn serve_against_a_closed_postgresql_port_fails_in_seconds_naming_the_address_and_the_reason() {
    let port = crate::receivers::free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/opsline");
    let started = std::time::Instant::now();
    let out = opsline(&["serve"], &config_dir(), &url);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.to_lowercase().contains("refused"), "{err}");
    assert_eq!(err.matches("refused").count(), 1, "the cause once: {err}");
}

#[tokio::test]
async fn check_config_connect_fails_on_a_database_that_does_not_exist() {
    let db = crate::helpers::TestDb::new().await;
    // SQLite creates a missing file: point it under a plain file, where none can be made.
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let missing = match db.url.rsplit_once('/') {
        Some((base, _)) if db.url.starts_with("postgres") => format!("{base}/opsline_does_not_exist"),
        _ => format!("sqlite://{}/x.db", blocker.path().display()),
    };
    let out = opsline(&["check-config", "--connect"], &config_dir(), &missing);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("error:"), "{text}");
    let out = opsline(&["check-config", "--connect"], &config_dir(), &db.url);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("answers"), "{text}");
}

#[test]
fn a_typo_in_an_environment_variable_names_the_variable_and_the_key_meant() {
    let out = Command::new(env!("CARGO_BIN_EXE_opsline"))
        .args(["check-config"])
        .env("OPSLINE_CONFIG_DIR", config_dir())
        .env("OPSLINE_HTTP__LISTN", "0.0.0.0:9000")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("http.listn") && text.contains("OPSLINE_HTTP__LISTN"), "{text}");
    assert!(text.contains("did you mean `listen`"), "{text}");
}

#[tokio::test]
async fn the_command_line_creates_users_and_prints_a_working_token_last() {
    let app = spawn().await;
    let out = opsline(
        &["user", "create", "--username", "li", "--role", "engineer", "--email", "li@example.com"],
        &config_dir(),
        &app.db.url,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = opsline(&["token", "create", "--user", "li"], &config_dir(), &app.db.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout.lines().last().unwrap().trim();
    assert!(token.starts_with("opl_"));
    let me = app.get("/api/v1/tickets", token).await;
    assert_eq!(me.status, 200);
    // Only the hash is stored.
    let rows = app
        .state
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT secret_hash FROM api_tokens",
        ))
        .await
        .unwrap();
    for row in rows {
        let h: String = row.try_get("", "secret_hash").unwrap();
        assert!(!token.contains(&h));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_opsline"))
        .args(["user", "set-password", "--username", "li"])
        .env("OPSLINE_CONFIG_DIR", config_dir())
        .env("OPSLINE_ENVIRONMENT", "test")
        .env("OPSLINE_DATABASE__URL", &app.db.url)
        .env("OPSLINE_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    assert!(child.wait().unwrap().success());
    let users = app.get("/api/v1/users", &app.admin).await.body;
    let li = users.as_array().unwrap().iter().find(|u| u["username"] == "li").unwrap().clone();
    assert_eq!((li["role"].as_str(), li["password"].as_str()), (Some("engineer"), Some("***")));
    let service = opsline(&["token", "create", "--role", "lead", "--name", "grafana-bot"], &config_dir(), &app.db.url);
    assert!(service.status.success());
    let users = app.get("/api/v1/users", &app.admin).await.body;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "grafana-bot" && u["service"] == true && u["role"] == "lead")
    );
}

#[tokio::test]
async fn a_database_with_a_newer_schema_stops_start_up_with_a_clear_message() {
    let app = spawn().await;
    app.state
        .db
        .execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_from_the_future', 0)",
        )
        .await
        .unwrap();
    let (src, _tmp) = source(&app.db.url, &Options::default());
    let config = Config::load(&src).unwrap();
    let err = opsline::startup::Application::build(config, opsline::clock::Clock::System)
        .await
        .err()
        .expect("refuses to start");
    let text = err.to_string();
    assert!(text.contains("newer than this binary") && text.contains("m29990101_000001_from_the_future"), "{text}");
}

#[test]
fn a_delivery_batch_that_could_outlast_its_lease_is_refused() {
    let dir = temp_config("[web]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n");
    assert!(load(dir.path(), &[]).is_ok(), "the defaults fit: 50 ÷ (64 ÷ 4 loops) rounds × 10 s < 60 s");
    let e = load(dir.path(), &[("OPSLINE_DELIVERY__BATCH", "500")]).unwrap_err().to_string();
    assert!(e.contains("delivery.lease_secs"), "{e}");
    let ok = load(dir.path(), &[("OPSLINE_DELIVERY__BATCH", "500"), ("OPSLINE_DELIVERY__LEASE_SECS", "400")]);
    assert!(ok.is_ok());
    let e = load(dir.path(), &[("OPSLINE_SWEEP__LOOPS", "0")]).unwrap_err().to_string();
    assert!(e.contains("sweep.loops"), "{e}");
}
