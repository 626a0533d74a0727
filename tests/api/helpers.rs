//! The test harness: every test gets the real application on port 0 with its own database — a
//! SQLite file by default, a fresh PostgreSQL database (created, migrated, dropped) when
//! `TEST_DATABASE_URL` is set — and a manual clock it moves by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use opsline::clock::Clock;
use opsline::config::{Config, ConfigSource};
use opsline::domain::actor::Actor;
use opsline::domain::ticket::Role;
use opsline::services::users::{self, NewTokenRequest};
use opsline::startup::Application;
use opsline::state::AppState;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// A database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) {
            Some(admin) => {
                let name = format!("opsline_test_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin).await.expect("connect to TEST_DATABASE_URL");
                conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
                conn.close().await.ok();
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).expect("url with a database");
                TestDb { url: format!("{base}/{name}"), pg: Some((admin, name)), _dir: None }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/opsline.db", dir.path().display());
                TestDb { url, pg: None, _dir: Some(dir) }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside async context; a short-lived runtime on its own thread does it.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    if let Ok(conn) = Database::connect(&admin).await {
                        let _ = conn
                            .execute_raw(Statement::from_string(
                                conn.get_database_backend(),
                                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                            ))
                            .await;
                        conn.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub state: AppState,
    pub admin: String,
    pub db: TestDb,
    pub handle: actix_web::dev::ServerHandle,
}

/// Options for [`spawn_with`].
#[derive(Default)]
pub struct Options {
    pub env: Vec<(String, String)>,
    /// Extra TOML written as the `test` overlay (replacing `config/test.toml`).
    pub overlay: Option<String>,
    pub now: Option<DateTime<Utc>>,
    /// Reuse this database (another instance, or a restart).
    pub db_url: Option<String>,
}

/// Waits for something real — a server's own loop, a receiver, Prometheus, a browser — to have
/// happened: `check` is asked every 50 ms until it answers `Some`, for at most `limit`. It never
/// moves the manual clock; tests that need time to pass move the clock instead.
pub async fn eventually<T, F, Fut>(what: &str, limit: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < until, "gave up after {limit:?} waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("RFC 3339").with_timezone(&Utc)
}

pub fn source(db_url: &str, opts: &Options) -> (ConfigSource, Option<tempfile::TempDir>) {
    let mut env = BTreeMap::new();
    env.insert("OPSLINE_HTTP__LISTEN".to_string(), "127.0.0.1:0".to_string());
    env.insert("OPSLINE_HTTP__WORKERS".to_string(), "1".to_string());
    env.insert("OPSLINE_DATABASE__URL".to_string(), db_url.to_string());
    env.insert("OPSLINE_DATABASE__MAX_CONNECTIONS".to_string(), "4".to_string());
    for (k, v) in &opts.env {
        env.insert(k.clone(), v.clone());
    }
    let (dir, tmp) = match &opts.overlay {
        Some(extra) => {
            let tmp = tempfile::tempdir().expect("temp dir");
            for entry in std::fs::read_dir(config_dir()).expect("config dir") {
                let entry = entry.expect("entry");
                std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).expect("copy config");
            }
            let base = std::fs::read_to_string(config_dir().join("test.toml")).expect("test.toml");
            std::fs::write(tmp.path().join("test.toml"), format!("{base}\n{extra}")).expect("write overlay");
            (tmp.path().to_path_buf(), Some(tmp))
        }
        None => (config_dir(), None),
    };
    (ConfigSource { dir, environment: "test".into(), env }, tmp)
}

pub async fn spawn() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(opts: Options) -> TestApp {
    let db = match &opts.db_url {
        Some(url) => TestDb { url: url.clone(), pg: None, _dir: None },
        None => TestDb::new().await,
    };
    let (src, _tmp) = source(&db.url, &opts);
    let config = Config::load(&src).unwrap_or_else(|e| panic!("{e}"));
    let clock = Clock::manual(opts.now.unwrap_or_else(|| at("2026-10-20T10:00:00+08:00")));
    let app = Application::build(config, clock.clone()).await.expect("application builds");
    let port = app.port();
    let state = app.state().clone();
    let handle = app.server_handle();
    tokio::spawn(app.run_until_stopped());
    let req = NewTokenRequest { user_id: None, role: Some(Role::Admin), name: "test-admin".into(), expires_at: None };
    let admin = users::create_token(&state, &Actor::command_line(), req, clock.now()).await.expect("admin token").token;
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        clock,
        state,
        admin,
        db,
        handle,
    }
}

/// A response's status and JSON body (`Null` when empty or not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        Resp { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), headers }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `GET path` as `token`: the body as text (a report, a page).
    pub async fn text(&self, path: &str, token: &str) -> String {
        let res = self.client.get(format!("{}{path}", self.address)).bearer_auth(token).send().await.expect("request");
        res.text().await.expect("body")
    }

    /// Creates a customer as admin and returns its id.
    pub async fn customer(&self, name: &str, tier: &str) -> i64 {
        let r = self.post("/api/v1/customers", &self.admin, json!({"name": name, "tier": tier})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_i64().expect("id")
    }

    /// Creates a contact and returns (id, token).
    pub async fn contact(&self, customer_id: i64, email: &str) -> (i64, String) {
        let r = self
            .post(
                &format!("/api/v1/customers/{customer_id}/contacts"),
                &self.admin,
                json!({"name": email, "email": email, "phone": "+86 21 5555 0101"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        (r.body["id"].as_i64().expect("id"), r.body["token"].as_str().expect("token").to_string())
    }

    /// A staff user of `role` with a token.
    pub async fn staff(&self, role: &str) -> String {
        let name = format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let u = self.post("/api/v1/users", &self.admin, json!({"username": name, "role": role})).await;
        assert_eq!(u.status, 201, "{}", u.body);
        let t = self.post("/api/v1/tokens", &self.admin, json!({"user_id": u.body["id"], "name": name})).await;
        assert_eq!(t.status, 201, "{}", t.body);
        t.body["token"].as_str().expect("token").to_string()
    }

    /// Opens a ticket for `customer_id` as admin.
    pub async fn open_ticket(&self, customer_id: i64, title: &str) -> Ticket {
        Ticket::of(self.ticket(customer_id, title).await)
    }

    /// Makes a change through the API as `token`; the answer as the API gives it.
    pub async fn change(&self, ticket: &Ticket, token: &str, act: Act<'_>) -> Resp {
        let (action, body) = act.request();
        self.act(ticket.id, action, token, body).await
    }

    /// The ticket as it is now.
    pub async fn reload(&self, ticket: &Ticket) -> Ticket {
        let r = self.get(&format!("/api/v1/tickets/{}", ticket.id), &self.admin).await;
        assert_eq!(r.status, 200, "{}", r.body);
        Ticket::of(r.body)
    }

    /// Opens a ticket as admin; returns the ticket JSON.
    pub async fn ticket(&self, customer_id: i64, title: &str) -> Value {
        let r = self
            .post(
                "/api/v1/tickets",
                &self.admin,
                json!({"customer_id": customer_id, "title": title, "description": ""}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    /// Creates (or replaces) the customer's integration; returns its key.
    pub async fn integration_key(&self, customer: i64, body: Value) -> String {
        let r = self.post(&format!("/api/v1/customers/{customer}/integrations"), &self.admin, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let key = r.body["key"].as_str().expect("key").to_string();
        assert!(key.starts_with("oik_"), "{key}");
        key
    }

    /// A change Opsline itself makes (a check, an intake, upkeep), named `by`.
    pub async fn by_opsline(
        &self,
        id: i64,
        by: &str,
        change: opsline::domain::ticket::Change,
    ) -> Result<opsline::services::tickets::Changed, opsline::services::Error> {
        let req = opsline::services::tickets::ChangeRequest::new(id, change);
        opsline::services::tickets::change(&self.state, &Actor::system(by), req, self.clock.now()).await
    }

    pub async fn act(&self, id: i64, action: &str, token: &str, body: Value) -> Resp {
        self.post(&format!("/api/v1/tickets/{id}/{action}"), token, body).await
    }

    /// Row counts of the tables a bad request could write to.
    pub async fn counts(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for table in [
            "customers",
            "contacts",
            "users",
            "api_tokens",
            "tickets",
            "comments",
            "attachments",
            "ticket_events",
            "sla_timers",
            "audit_log",
        ] {
            let row = self
                .state
                .db
                .query_one_raw(Statement::from_string(
                    self.state.db.get_database_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .expect("count")
                .expect("row");
            out.push(row.try_get::<i64>("", "n").expect("n"));
        }
        out
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server so that the database can be dropped.
        let h = self.handle.clone();
        std::mem::drop(h.stop(false));
    }
}

/// A ticket as the API shows it, with the fields tests look at most.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: i64,
    pub number: String,
    pub status: String,
    pub level: String,
    pub version: i64,
    pub json: Value,
}

impl Ticket {
    pub fn of(json: Value) -> Ticket {
        Ticket {
            id: json["id"].as_i64().expect("id"),
            number: json["number"].as_str().expect("number").to_string(),
            status: json["status"].as_str().expect("status").to_string(),
            level: json["level"].as_str().expect("level").to_string(),
            version: json["version"].as_i64().expect("version"),
            json,
        }
    }

    /// A timer of the current cycle (`response`, `plan`, `resolution`).
    pub fn timer(&self, kind: &str) -> &Value {
        &self.json["sla"][kind]
    }
}

/// A person's change, as `POST /api/v1/tickets/{id}/…` takes it.
pub enum Act<'a> {
    Respond(&'a str),
    Plan(&'a str),
    WaitCustomer(&'a str),
    Resume,
    Resolve(&'a str),
    Confirm,
    Close,
    Reopen(&'a str),
    Cancel(&'a str),
    Level(&'a str, &'a str),
    Comment(&'a str),
}

impl Act<'_> {
    fn request(&self) -> (&'static str, Value) {
        match self {
            Act::Respond(m) => ("respond", json!({"message": m})),
            Act::Plan(p) => ("plan", json!({"plan": p})),
            Act::WaitCustomer(r) => ("wait-customer", json!({"reason": r})),
            Act::Resume => ("resume", json!({})),
            Act::Resolve(r) => ("resolve", json!({"resolution": r})),
            Act::Confirm => ("confirm", json!({})),
            Act::Close => ("close", json!({})),
            Act::Reopen(r) => ("reopen", json!({"reason": r})),
            Act::Cancel(r) => ("cancel", json!({"reason": r})),
            Act::Level(l, r) => ("level", json!({"level": l, "reason": r})),
            Act::Comment(b) => ("comments", json!({"body": b})),
        }
    }
}
