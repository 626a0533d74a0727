#![allow(clippy::unwrap_used)]

//! Deadline computations per second on one core: `Nh` and `Nd` targets on a business calendar
//! (lunch break, holidays, make-up days), with one, ten and fifty years of holidays — the cost
//! must not grow with holidays outside the span a deadline walks.
//!
//! `cargo bench --bench sla_engine` (criterion prints elements/s = deadlines per second).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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
criterion_main!(benches);
