#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `/metrics` under load, and the service's resident memory, with 1,000 and with 1,000,000
//! tickets in the database, in the same run,
//! against the release service on PostgreSQL (one HTTP worker on CPU1; wrk on CPU0). The gauges
//! whose truth is in the database refresh every 5 s in the background during the measurement;
//! a scrape only renders the registry, so its cost must not grow with the tickets.
//!
//! `cargo bench --bench metrics -- [--quick]` (quick: 1,000 and 20,000 tickets, 3 s runs).
//! PostgreSQL from `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Prints a Markdown table and writes it to `$CARGO_TARGET_DIR/bench-metrics.md`. `BENCH_KEEP_DB=1`
//! keeps the database (`opsline_bench_metrics`) for a look with psql.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Row, Store, median, opsline_bin, start};

const DB: &str = "opsline_bench_metrics";

/// wrk's 99th percentile latency at 4 connections, in milliseconds.
fn wrk_p99(url: &str, secs: u64) -> Option<f64> {
    common::wrk(url, 4, secs, None).map(|w| w.p99_ms)
}

/// Waits until the exported open-ticket gauges add up to `n` (the background refresh ran).
async fn wait_for_open(port: u16, n: i64) -> Duration {
    let t0 = Instant::now();
    let client = reqwest::Client::new();
    while t0.elapsed() < Duration::from_secs(300) {
        let text = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
        let open: i64 = text
            .lines()
            .filter(|l| l.starts_with("opsline_tickets_open{"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<i64>().ok())
            .sum();
        if open == n {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the gauges never showed {n} open tickets");
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = std::env::args().any(|a| a == "--quick");
    let (small, large, secs) = if quick { (1_000, 20_000, 3) } else { (1_000, 1_000_000, 10) };
    let dir = common::config_dir("[metrics]\nrefresh_secs = 5\n\n[log]\nlevel = \"warn\"\n");
    let mut p99 = Vec::new();
    let mut rss = Vec::new();
    // Each size on its own copy of a reused seed (`common::seeded`), with a fresh service.
    for total in [small, large] {
        let preparing = Instant::now();
        let Some(url) = common::seeded(Store::Postgres, DB, total).await else {
            eprintln!("PostgreSQL unavailable: skipped");
            return;
        };
        let svc = start(&opsline_bin(), dir.path(), &url).await;
        let endpoint = format!("http://127.0.0.1:{}/metrics", svc.port);
        let waited = wait_for_open(svc.port, total).await;
        eprintln!(
            "{total} tickets: ready in {:.1}s, exported {:.1}s after the start",
            preparing.elapsed().as_secs_f64(),
            waited.as_secs_f64()
        );
        let mut runs = Vec::new();
        for _ in 0..3 {
            let u = endpoint.clone();
            if let Some(ms) = tokio::task::spawn_blocking(move || wrk_p99(&u, secs)).await.unwrap() {
                runs.push(ms);
            }
        }
        eprintln!("{total} tickets: p99 {runs:?} ms (load {})", common::loadavg());
        p99.push(if runs.is_empty() { None } else { Some(median(runs)) });
        // Resident memory after the gauge refreshes and the scrapes, at this many tickets.
        rss.push(common::rss_mib(svc.child.id()));
        drop(svc);
        common::drop_database(DB).await;
    }

    let fmt = |v: Option<f64>| v.map_or("skipped (wrk not installed)".to_string(), |ms| format!("p99 {ms:.2} ms"));
    let mut rows = vec![Row {
        goal: format!("`/metrics` at {small} tickets (PostgreSQL)"),
        opsline: fmt(p99[0]),
        peer: "—".into(),
        ratio: "—".into(),
        verdict: "reported".into(),
    }];
    let (verdict, ratio) = match (p99[0], p99[1]) {
        (Some(a), Some(b)) => (if b <= 25.0 && b <= 1.5 * a { "pass" } else { "fail" }, format!("{:.2}×", b / a)),
        _ => ("skipped", "—".into()),
    };
    rows.push(Row {
        goal: format!("`/metrics` p99 at {large} tickets: ≤ 25 ms and ≤ 1.5× the p99 at {small}"),
        opsline: fmt(p99[1]),
        peer: format!("{} (same run, {small} tickets)", fmt(p99[0])),
        ratio,
        verdict: verdict.into(),
    });
    let (small_mib, large_mib) = (rss[0], rss[1]);
    let limit = 1.3 * small_mib + 150.0;
    rows.push(Row {
        goal: format!("memory at {large} tickets: ≤ 1.3× the resident memory at {small} + 150 MB"),
        opsline: format!("{large_mib:.0} MiB"),
        peer: format!("{small_mib:.0} MiB at {small} (limit {limit:.0} MiB)"),
        ratio: format!("{:.2}×", large_mib / small_mib.max(1.0)),
        verdict: if large_mib > 0.0 && large_mib <= limit { "pass" } else { "fail" }.into(),
    });
    common::report("metrics", &rows);
}
