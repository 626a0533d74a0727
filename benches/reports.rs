#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Scheduled service reports on PostgreSQL: 500 customers on a weekly schedule, 200,000 frozen
//! timer outcomes over the eight weeks each report's trend covers (and the tickets and log
//! entries they belong to). At Monday 09:30 `reports::run_scheduled` makes every customer's
//! report and queues its mail; then each report is rendered as the mail's HTML and, in a build
//! with the `pdf` feature, as its PDF. Goals: all made and queued within 60 s on the benchmark
//! machine; each PDF ≤ 500 KB (the largest is written to `$CARGO_TARGET_DIR/bench-report-sample.pdf`).
//!
//! `cargo bench --bench reports -- [--quick]` (quick: 50 customers, 20,100 outcomes). PostgreSQL
//! from `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). Prints a
//! Markdown table and writes it to `$CARGO_TARGET_DIR/bench-reports.md`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use common::{Row, Store, exec, scalar};
use opsline::clock::Clock;
use opsline::config::{Config, ConfigSource};

const DB: &str = "opsline_bench_reports";
/// Tickets per customer: three outcomes each, about 400 per customer over eight weeks.
const TICKETS: i64 = 134;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `customers` weekly customers, their tickets (opened over the eight weeks before the reported
/// week's end, most closed a day later) and three frozen outcomes per ticket.
async fn seed(db: &sea_orm::DatabaseConnection, customers: i64, from: DateTime<Utc>, to: DateTime<Utc>) {
    let cal = scalar(db, "SELECT MAX(id) FROM config_versions WHERE kind = 'calendar' AND name = '24x7'").await;
    let pol = scalar(db, "SELECT MAX(id) FROM config_versions WHERE kind = 'sla_policy' AND name = 'standard'").await;
    let joined = at("2026-09-01T00:00:00Z");
    exec(
        db,
        "INSERT INTO customers (name, key, tier, calendar, sla_policy, created_at, updated_at, report_schedule, report_recipients) \
         SELECT '银行 ' || g, 'bench-bank-' || g, 'vip', '24x7', 'standard', ?, ?, 'weekly', '[\"it-' || g || '@bench.example\"]' \
         FROM generate_series(1, ?) g",
        vec![joined.into(), joined.into(), customers.into()],
    )
    .await;
    let span = (to - from).num_seconds() - 2 * 86_400;
    exec(
        db,
        "INSERT INTO tickets (number, customer_id, title, description, level, level_source, classification, status, source, \
         reported_at, created_at, updated_at, version, urgency_bucket, urgency_key, breached) \
         SELECT '', c.id, '故障 ' || g, '', (ARRAY['I','II','III','IV'])[1 + g % 4], 'manual', \
         '{\"level\":\"I\",\"rule\":null,\"matched\":[]}', 'closed', 'hotline', ts, ts, ts, 1, 0, 0, false \
         FROM customers c, generate_series(1, ?) g, \
         LATERAL (SELECT ?::timestamptz + ((g * ? / ? + c.id * 3571) % ?) * interval '1 second' AS ts) t \
         WHERE c.key LIKE 'bench-bank-%'",
        vec![TICKETS.into(), from.into(), span.into(), TICKETS.into(), span.into()],
    )
    .await;
    exec(
        db,
        "INSERT INTO ticket_events (ticket_id, actor_kind, actor_name, action, new_value, created_at) \
         SELECT id, 'system', 'bench', 'created', '{\"level\":\"' || level || '\",\"source\":\"hotline\"}', created_at \
         FROM tickets WHERE customer_id IN (SELECT id FROM customers WHERE key LIKE 'bench-bank-%')",
        vec![],
    )
    .await;
    exec(
        db,
        "INSERT INTO ticket_events (ticket_id, actor_kind, actor_name, action, new_value, created_at) \
         SELECT id, 'system', 'bench', 'closed', '{\"status\":\"closed\"}', created_at + interval '1 day' \
         FROM tickets WHERE customer_id IN (SELECT id FROM customers WHERE key LIKE 'bench-bank-%') AND id % 3 <> 0",
        vec![],
    )
    .await;
    exec(
        db,
        "INSERT INTO timer_outcomes (timer_id, ticket_id, customer_id, kind, cycle, level, outcome, started_at, due_at, \
         met_at, finished_at, breached, paused_secs, late_secs, policy_version_id, calendar_version_id, recorded_at) \
         SELECT t.id * 4 + k.n, t.id, t.customer_id, k.kind, 1, t.level, o.outcome, t.created_at, \
         t.created_at + k.secs * interval '1 second', \
         CASE WHEN o.outcome = 'breached' THEN NULL ELSE t.created_at + (k.secs + o.late) * interval '1 second' END, \
         t.created_at + (k.secs + o.late) * interval '1 second', o.outcome <> 'in_time', 0, GREATEST(o.late, 0), ?, ?, \
         t.created_at + (k.secs + o.late) * interval '1 second' \
         FROM tickets t \
         CROSS JOIN (VALUES (1, 'response', 600), (2, 'plan', 1800), (3, 'resolution', 86400)) AS k(n, kind, secs) \
         CROSS JOIN LATERAL (SELECT CASE WHEN (t.id + k.n) % 23 = 0 THEN 'breached' WHEN (t.id + k.n) % 10 = 0 THEN 'late' \
           ELSE 'in_time' END AS outcome, \
           CASE WHEN (t.id + k.n) % 23 = 0 OR (t.id + k.n) % 10 = 0 THEN 300 + (t.id % 7) * 600 ELSE -60 END AS late) o \
         WHERE t.customer_id IN (SELECT id FROM customers WHERE key LIKE 'bench-bank-%')",
        vec![pol.into(), cal.into()],
    )
    .await;
    exec(db, "VACUUM ANALYZE", vec![]).await;
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = std::env::args().any(|a| a == "--quick");
    let customers: i64 = if quick { 50 } else { 500 };
    let Some(url) = common::seeded(Store::Postgres, DB, 2_000).await else {
        eprintln!("PostgreSQL unavailable: skipped");
        return;
    };
    let dir = common::config_dir("[log]\nlevel = \"warn\"\n");
    let mut env = BTreeMap::new();
    env.insert("OPSLINE_DATABASE__URL".to_string(), url.clone());
    let config =
        Config::load(&ConfigSource { dir: dir.path().to_path_buf(), environment: "development".into(), env }).unwrap();
    let state = opsline::startup::prepare(config, Clock::System, true).await.unwrap();
    // The week reported on: Monday 2026-11-23 to Sunday 11-29 in Shanghai; due Monday 11-30 09:30.
    let (from, week_end, due) =
        (at("2026-10-05T00:00:00+08:00"), at("2026-11-30T00:00:00+08:00"), at("2026-11-30T09:30:00+08:00"));
    let started = Instant::now();
    seed(&state.db, customers, from, week_end).await;
    let outcomes = scalar(&state.db, "SELECT COUNT(*) FROM timer_outcomes").await;
    eprintln!("seeded {customers} customers, {outcomes} outcomes in {:.1}s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let made = opsline::services::reports::run_scheduled(&state, due).await.unwrap();
    let made_secs = started.elapsed().as_secs_f64();
    assert_eq!(made as i64, customers, "one report per customer");
    let queued = scalar(&state.db, "SELECT COUNT(*) FROM outbox WHERE kind = 'report'").await;
    assert_eq!(queued, customers, "one mail per customer");
    assert_eq!(opsline::services::reports::run_scheduled(&state, due).await.unwrap(), 0, "made once");

    // What the delivery worker does per mail before sending: read the report, render its HTML.
    let ids: Vec<i64> = {
        use sea_orm::{EntityTrait, QuerySelect};
        opsline::persistence::entities::report::Entity::find()
            .select_only()
            .column(opsline::persistence::entities::report::Column::Id)
            .into_tuple()
            .all(&state.db)
            .await
            .unwrap()
    };
    let started = Instant::now();
    let (mut largest, mut total) = (0usize, 0usize);
    for id in &ids {
        let v = opsline::services::reports::get(&state, *id).await.unwrap();
        let html = opsline::web::report::html(&v.content, &v.sha256, "https://opsline.example", None).unwrap();
        largest = largest.max(html.len());
        total += html.len();
    }
    let render_secs = started.elapsed().as_secs_f64();
    // The PDF each mail attaches (a build with the `pdf` feature); the largest is kept to look at.
    let started = Instant::now();
    let (mut pdf_largest, mut pdf_total, mut pdfs) = (Vec::new(), 0usize, 0usize);
    for id in &ids {
        let v = opsline::services::reports::get(&state, *id).await.unwrap();
        let Some(pdf) = state.documents.pdf(&v.content, &v.sha256) else { break };
        let pdf = pdf.unwrap();
        pdf_total += pdf.len();
        pdfs += 1;
        if pdf.len() > pdf_largest.len() {
            pdf_largest = pdf;
        }
    }
    let pdf_secs = started.elapsed().as_secs_f64();
    if pdfs > 0 {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        std::fs::write(std::path::Path::new(&target).join("bench-report-sample.pdf"), &pdf_largest).unwrap();
    }
    let sample = opsline::services::reports::get(&state, ids[0]).await.unwrap();
    let counted: u64 = sample.content.compliance.iter().map(|r| r.in_time + r.late + r.breached).sum();
    eprintln!(
        "{made} reports made and queued in {made_secs:.1}s; rendered in {render_secs:.1}s; a report counts {counted} timers \
         and {} missed deadlines",
        sample.content.breaches.len()
    );
    state.db.close().await.ok();
    common::drop_database(DB).await;

    let rows = vec![
        Row {
            goal: format!(
                "weekly reports for {customers} customers ({outcomes} frozen outcomes) made and queued ≤ 60 s"
            ),
            opsline: format!("{made_secs:.1} s"),
            peer: "—".into(),
            ratio: "—".into(),
            verdict: if made_secs <= 60.0 { "pass" } else { "fail" }.into(),
        },
        Row {
            goal: "the same reports rendered as the mail's HTML (read + render)".into(),
            opsline: format!(
                "{render_secs:.1} s; largest {:.0} KB, mean {:.0} KB",
                largest as f64 / 1024.0,
                total as f64 / 1024.0 / ids.len() as f64
            ),
            peer: "—".into(),
            ratio: "—".into(),
            verdict: "reported".into(),
        },
        if pdfs > 0 {
            let kb = pdf_largest.len() as f64 / 1024.0;
            Row {
                goal: "each report's PDF ≤ 500 KB (A4, CJK font subset)".into(),
                opsline: format!(
                    "largest {kb:.0} KB, mean {:.0} KB; {pdfs} rendered in {pdf_secs:.1} s",
                    pdf_total as f64 / 1024.0 / pdfs as f64
                ),
                peer: "—".into(),
                ratio: "—".into(),
                verdict: if kb <= 500.0 { "pass" } else { "fail" }.into(),
            }
        } else {
            Row {
                goal: "each report's PDF ≤ 500 KB".into(),
                opsline: "not built (--features pdf)".into(),
                peer: "—".into(),
                ratio: "—".into(),
                verdict: "skipped".into(),
            }
        },
    ];
    common::report("reports", &rows);
}
