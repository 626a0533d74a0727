#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The dispatch board and engineers' availability with 20 field engineers and 2,000 visits in the
//! database, against the release service on PostgreSQL (one HTTP worker on CPU1; wrk on CPU0).
//! The board (`/console/dispatch`, a lead's session) shows 20 engineers × 7 days; availability
//! (`GET /api/v1/engineers/availability`) answers the same 20 engineers' free windows over the
//! same week. Goal for each: p99 ≤ 50 ms (wrk at 4 connections, median of three runs).
//!
//! `cargo bench --bench visits -- [--quick]` (quick: 200 visits, 3 s runs). PostgreSQL from
//! `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). Prints a Markdown
//! table and writes it to `$CARGO_TARGET_DIR/bench-visits.md`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};
use common::{Row, Store, exec, median, opsline_bin, start};
use opsline::clock::Clock;
use opsline::config::{Config, ConfigSource};
use opsline::domain::actor::Actor;
use opsline::domain::ticket::Role;
use opsline::services::users::{self, NewTokenRequest, NewUser};
use opsline::services::visits::{self, FieldSettings};
use opsline::signing::SignedFor;
use sea_orm::ConnectionTrait;

const DB: &str = "opsline_bench_visits";
const ENGINEERS: i64 = 20;
const SECRET: &str = "bench-secret-key-bench-secret-key-0123456789";

/// Engineers, a lead who dispatches, `visits` visits over five weeks around the board's week
/// (Monday 09:00 + the offset), and the lead's session cookie and an admin token.
async fn prepare(url: &str, dir: &Path, visits: i64) -> (String, String, chrono::DateTime<Utc>) {
    let mut env = BTreeMap::new();
    env.insert("OPSLINE_DATABASE__URL".to_string(), url.to_string());
    let config =
        Config::load(&ConfigSource { dir: dir.to_path_buf(), environment: "development".into(), env }).unwrap();
    let state = opsline::startup::prepare(config, Clock::System, true).await.unwrap();
    let now = Utc::now();
    let cli = Actor::command_line();
    let req = NewTokenRequest { user_id: None, role: Some(Role::Admin), name: "bench".into(), expires_at: None };
    let token = users::create_token(&state, &cli, req, now).await.unwrap().token;
    let lead: NewUser = serde_json::from_value(serde_json::json!({
        "username": "dispatcher", "role": "lead", "password": "dispatcher password"
    }))
    .unwrap();
    users::create(&state, &cli, lead, false, now).await.unwrap();
    let admin = Actor::Staff { user_id: 1, username: "bench".into(), display_name: "bench".into(), role: Role::Admin };
    let mut ids = Vec::new();
    for i in 0..ENGINEERS {
        let u: NewUser = serde_json::from_value(serde_json::json!({
            "username": format!("field{i:02}"), "display_name": format!("Engineer {i:02}"), "role": "engineer"
        }))
        .unwrap();
        let u = users::create(&state, &cli, u, false, now).await.unwrap();
        let f = FieldSettings {
            region: ["pudong", "puxi", "minhang", "jiading"][(i % 4) as usize].into(),
            skills: vec!["oracle".into(), "network".into()],
            calendar: "business".into(),
        };
        visits::set_field(&state, &admin, u.id, f, now).await.unwrap();
        ids.push(u.id);
    }
    // The board's week starts next Monday (Asia/Shanghai); each engineer has three two-hour visits
    // a day (09:00, 12:00, 15:00), the days centred on the board's week.
    let today = now.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let monday = today + Duration::days(7 - i64::from(chrono::Datelike::weekday(&today).num_days_from_monday()));
    let monday = monday.and_hms_opt(1, 0, 0).unwrap().and_utc(); // 09:00 +08:00
    let per_engineer_day = 3;
    let first = monday - Duration::days((visits / ENGINEERS / per_engineer_day - 7).max(0) / 2);
    let tickets = common::scalar(&state.db, "SELECT MIN(id) FROM tickets").await;
    exec(
        &state.db,
        "INSERT INTO visits (ticket_id, state, engineer_id, window_start, window_end, offered_start, chooser, \
         travel_secs, site_address, site_contact, parts, clocks, created_at, updated_at) \
         SELECT ? + (n % 2000), 'booked', ? + (n % ?), \
                ?::timestamptz + ((n / ? / ?) * interval '1 day') + (((n / ?) % ?) * interval '3 hours'), \
                ?::timestamptz + ((n / ? / ?) * interval '1 day') + (((n / ?) % ?) * interval '3 hours') + interval '2 hours', \
                NULL, 'dispatcher', 1800, 'Site ' || n, 'Contact ' || n, '[]', '[]', now(), now() \
         FROM generate_series(0, ? - 1) AS n",
        vec![
            tickets.into(),
            ids[0].into(),
            ENGINEERS.into(),
            first.into(),
            ENGINEERS.into(),
            per_engineer_day.into(),
            ENGINEERS.into(),
            per_engineer_day.into(),
            first.into(),
            ENGINEERS.into(),
            per_engineer_day.into(),
            ENGINEERS.into(),
            per_engineer_day.into(),
            visits.into(),
        ],
    )
    .await;
    state.db.execute_unprepared("VACUUM ANALYZE").await.unwrap();
    let session =
        opsline::services::web_sessions::sign_in_staff(&state, "dispatcher", "dispatcher password", now).await.unwrap();
    let cookie = format!("opsline_session={}", state.signer.sign(SignedFor::Session, &session));
    state.db.close().await.ok();
    (cookie, token, monday)
}

/// A wrk script that GETs with these headers.
fn get_script(dir: &Path, name: &str, headers: &[(&str, &str)]) -> std::path::PathBuf {
    let mut s = String::new();
    for (k, v) in headers {
        s.push_str(&format!("wrk.headers[\"{k}\"] = \"{v}\"\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, s).unwrap();
    path
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = std::env::args().any(|a| a == "--quick");
    let (visits, secs) = if quick { (200, 3) } else { (2_000, 10) };
    let dir = common::config_dir(&format!("[log]\nlevel = \"warn\"\n\n[web]\nsecret_key = \"{SECRET}\"\n"));
    let Some(url) = common::seeded(Store::Postgres, DB, 2_000).await else {
        eprintln!("PostgreSQL unavailable: skipped");
        return;
    };
    let (cookie, token, monday) = prepare(&url, dir.path(), visits).await;
    let svc = start(&opsline_bin(), dir.path(), &url).await;
    let base = format!("http://127.0.0.1:{}", svc.port);
    let week = monday.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).format("%Y-%m-%d");
    let board = format!("{base}/console/dispatch?from={week}");
    let (from, to) = (monday - Duration::hours(1), monday + Duration::days(7) - Duration::hours(1));
    let availability = format!(
        "{base}/api/v1/engineers/availability?from={}&to={}",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    // Each answers in full before it is measured.
    let client = reqwest::Client::new();
    let page = client.get(&board).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200, "the board answers the lead");
    let html = page.text().await.unwrap();
    let shown = html.matches("class=\"block ").count();
    let free = client.get(&availability).bearer_auth(&token).send().await.unwrap();
    assert_eq!(free.status(), 200);
    let free: serde_json::Value = free.json().await.unwrap();
    assert_eq!(free.as_array().map(Vec::len), Some(ENGINEERS as usize));
    eprintln!("the board shows {shown} visits of {ENGINEERS} engineers; {visits} visits in the database");
    let scratch = tempfile::tempdir().unwrap();
    let board_script = get_script(scratch.path(), "board.lua", &[("Cookie", &cookie)]);
    let api_script = get_script(scratch.path(), "api.lua", &[("Authorization", &format!("Bearer {token}"))]);
    let mut results = Vec::new();
    for (url, script) in [(&board, &board_script), (&availability, &api_script)] {
        let mut runs = Vec::new();
        for _ in 0..3 {
            let (u, s) = (url.clone(), script.clone());
            if let Some(w) = tokio::task::spawn_blocking(move || common::wrk(&u, 4, secs, Some(&s))).await.unwrap() {
                assert!(!w.errors, "wrk saw errors against {url}");
                runs.push(w.p99_ms);
            }
        }
        eprintln!("{url}: p99 {runs:?} ms (load {})", common::loadavg());
        results.push(if runs.is_empty() { None } else { Some(median(runs)) });
    }
    drop(svc);
    common::drop_database(DB).await;
    let row = |goal: String, p99: Option<f64>| Row {
        goal,
        opsline: p99.map_or("skipped (wrk not installed)".into(), |ms| format!("p99 {ms:.2} ms")),
        peer: "— (no peer ties visits to the ticket's SLA)".into(),
        ratio: "—".into(),
        verdict: match p99 {
            Some(ms) if ms <= 50.0 => "pass",
            Some(_) => "fail",
            None => "skipped",
        }
        .into(),
    };
    common::report(
        "visits",
        &[
            row(
                format!("dispatch board, {ENGINEERS} engineers × 7 days, {visits} visits (PostgreSQL): p99 ≤ 50 ms"),
                results[0],
            ),
            row("`GET /api/v1/engineers/availability`, the same week: p99 ≤ 50 ms".to_string(), results[1]),
        ],
    );
}
