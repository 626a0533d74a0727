#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Deadline computations per second on one core: `Nh` and `Nd` targets on a business calendar
//! (lunch break, holidays, make-up days), with one, ten and fifty years of holidays — the cost
//! must not grow with holidays outside the span a deadline walks.
//!
//! `cargo bench --bench sla_engine -- [--quick]`: criterion prints elements/s (deadlines per
//! second) per case; then one timed run on CPU1 of all cases mixed gives the goal's row (≥ 500,000
//! deadlines/s on one core), written to `$CARGO_TARGET_DIR/bench-sla_engine.md`. `--quick` skips
//! criterion and times one second.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use opsline::domain::calendar::{Calendar, DayHours, Secs, parse_interval};
use opsline::domain::sla::{Target, TimerKind, deadline};

/// The 2026 PRC pattern, repeated for `years` years from 2026.
fn business(years: i16) -> Calendar {
    let hours = DayHours::new(vec![parse_interval("09:00-12:00").unwrap(), parse_interval("13:00-18:00").unwrap()]);
    let week =
        [hours.clone(), hours.clone(), hours.clone(), hours.clone(), hours, DayHours::default(), DayHours::default()];
    let mut holidays = Vec::new();
    let mut workdays = Vec::new();
    for y in 2026..2026 + years {
        for (m, d, n) in [(1, 1, 3), (2, 15, 9), (4, 4, 3), (5, 1, 5), (6, 19, 3), (9, 25, 3), (10, 1, 7)] {
            let start = jiff::civil::date(y, m, d);
            for i in 0..n {
                holidays.push(start.checked_add(jiff::Span::new().days(i)).unwrap());
            }
        }
        for (m, d) in [(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)] {
            workdays.push(jiff::civil::date(y, m, d));
        }
    }
    Calendar::weekly("Asia/Shanghai", week, holidays, workdays).unwrap()
}

/// Starts spread over 2026, every 37 minutes and 13 seconds.
fn starts() -> Vec<Secs> {
    let first: Secs = "2026-01-05T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second();
    (0..1000).map(|i| first + i * 2233).collect()
}

fn bench(c: &mut Criterion) {
    let starts = starts();
    let mut group = c.benchmark_group("deadlines");
    group.throughput(Throughput::Elements(starts.len() as u64));
    for years in [1i16, 10, 50] {
        let cal = business(years);
        for (name, target) in [("2h", Target::Working(7200)), ("3d", Target::Days(3)), ("end_of_day", Target::EndOfDay)]
        {
            group.bench_function(format!("{name}/{years}y_of_holidays"), |b| {
                b.iter(|| {
                    for &s in &starts {
                        black_box(
                            deadline(&cal, TimerKind::Resolution, black_box(s), target, Target::Working(1800)).unwrap(),
                        );
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);

/// All nine cases in turn, for `secs`: deadlines per second.
fn mixed(secs: f64) -> f64 {
    let starts = starts();
    let cals: Vec<Calendar> = [1i16, 10, 50].into_iter().map(business).collect();
    let targets = [Target::Working(7200), Target::Days(3), Target::EndOfDay];
    let t0 = std::time::Instant::now();
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < secs {
        for cal in &cals {
            for &target in &targets {
                for &s in &starts {
                    black_box(
                        deadline(cal, TimerKind::Resolution, black_box(s), target, Target::Working(1800)).unwrap(),
                    );
                }
                n += starts.len() as u64;
            }
        }
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    // One core: run again pinned to CPU1 (taskset), unless already pinned.
    if std::env::var_os("BENCH_PINNED").is_none() && std::path::Path::new("/usr/bin/taskset").exists() {
        let status = common::pinned("1", std::env::current_exe().unwrap())
            .args(std::env::args().skip(1))
            .env("BENCH_PINNED", "1")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let quick = std::env::args().any(|a| a == "--quick");
    if !quick {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    let rate = mixed(if quick { 1.0 } else { 5.0 });
    let rows = [common::Row {
        goal: "deadline computations per second, one core (SLA engine): ≥ 500,000/s".into(),
        opsline: format!("{rate:.0}/s"),
        peer: "—".into(),
        ratio: format!("{:.2}× the goal", rate / 500_000.0),
        verdict: if rate >= 500_000.0 { "pass" } else { "fail" }.into(),
    }];
    common::report("sla_engine", &rows);
}
