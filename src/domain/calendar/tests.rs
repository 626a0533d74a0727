//! The dated examples of docs/sla.md §3, held literally, on the calendars the document names.

use super::*;
use crate::domain::sla::{Target, TimerKind, deadline};

pub(crate) fn day(intervals: &[&str]) -> DayHours {
    DayHours::new(intervals.iter().map(|s| parse_interval(s).unwrap()).collect())
}

/// docs/sla.md §9 `business`, without holidays (Mon–Fri 09:00–12:00, 13:00–18:00, Asia/Shanghai).
pub(crate) fn business(holidays: &[&str], workdays: &[&str]) -> Calendar {
    let wd = day(&["09:00-12:00", "13:00-18:00"]);
    let week = [wd.clone(), wd.clone(), wd.clone(), wd.clone(), wd, DayHours::default(), DayHours::default()];
    let h = holidays.iter().flat_map(|s| parse_dates(s).unwrap());
    let w = workdays.iter().flat_map(|s| parse_dates(s).unwrap());
    Calendar::weekly("Asia/Shanghai", week, h, w).unwrap()
}

pub(crate) fn cn2026() -> Calendar {
    business(
        &[
            "2026-01-01..2026-01-03",
            "2026-02-15..2026-02-23",
            "2026-04-04..2026-04-06",
            "2026-05-01..2026-05-05",
            "2026-06-19..2026-06-21",
            "2026-09-25..2026-09-27",
            "2026-10-01..2026-10-07",
        ],
        &["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
    )
}

/// Parses an instant with an offset, e.g. `2026-10-16T17:55:00+08:00`.
pub(crate) fn at(s: &str) -> Secs {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn due(cal: &Calendar, kind: TimerKind, start: &str, target: &str, plan: &str) -> Secs {
    deadline(cal, kind, at(start), target.parse::<Target>().unwrap(), plan.parse::<Target>().unwrap()).unwrap()
}

fn level1(cal: &Calendar, start: &str) -> (Secs, Secs, Secs) {
    (
        due(cal, TimerKind::Response, start, "10m", "30m"),
        due(cal, TimerKind::Plan, start, "30m", "30m"),
        due(cal, TimerKind::Resolution, start, "end_of_day", "30m"),
    )
}

#[test]
fn friday_1755_level_one_is_due_monday_0905_0925_1800() {
    let r = level1(&business(&[], &[]), "2026-10-16T17:55:00+08:00");
    assert_eq!(r, (at("2026-10-19T01:05:00Z"), at("2026-10-19T01:25:00Z"), at("2026-10-19T10:00:00Z")));
}

#[test]
fn tuesday_1000_level_one_plan_1030_resolution_1800() {
    let (_, plan, res) = level1(&business(&[], &[]), "2026-10-20T10:00:00+08:00");
    assert_eq!((plan, res), (at("2026-10-20T10:30:00+08:00"), at("2026-10-20T18:00:00+08:00")));
}

#[test]
fn tuesday_1740_level_one_response_1750_plan_wednesday_0910_resolution_wednesday_1800() {
    let r = level1(&business(&[], &[]), "2026-10-20T17:40:00+08:00");
    assert_eq!(r, (at("2026-10-20T17:50:00+08:00"), at("2026-10-21T09:10:00+08:00"), at("2026-10-21T18:00:00+08:00")));
}

#[test]
fn tuesday_1900_level_one_response_wednesday_0910_resolution_wednesday_1800() {
    let (resp, _, res) = level1(&business(&[], &[]), "2026-10-20T19:00:00+08:00");
    assert_eq!((resp, res), (at("2026-10-21T09:10:00+08:00"), at("2026-10-21T18:00:00+08:00")));
}

#[test]
fn tuesday_1750_response_is_due_at_the_interval_end_1800() {
    let (resp, _, _) = level1(&business(&[], &[]), "2026-10-20T17:50:00+08:00");
    assert_eq!(resp, at("2026-10-20T18:00:00+08:00"));
}

#[test]
fn tuesday_noon_response_counts_from_1300_and_is_due_1310() {
    let (resp, _, _) = level1(&business(&[], &[]), "2026-10-20T12:00:00+08:00");
    assert_eq!(resp, at("2026-10-20T13:10:00+08:00"));
}

#[test]
fn one_day_targets_on_the_business_calendar() {
    let cal = business(&[], &[]);
    let one_day = |s| due(&cal, TimerKind::Resolution, s, "1d", "1h");
    assert_eq!(one_day("2026-10-20T15:00:00+08:00"), at("2026-10-21T07:00:00Z"));
    assert_eq!(one_day("2026-10-16T15:00:00+08:00"), at("2026-10-19T15:00:00+08:00"));
    assert_eq!(one_day("2026-10-17T10:00:00+08:00"), at("2026-10-20T09:00:00+08:00"));
    assert_eq!(one_day("2026-10-20T12:30:00+08:00"), at("2026-10-21T13:00:00+08:00"));
    assert_eq!(one_day("2026-10-20T18:00:00+08:00"), at("2026-10-22T09:00:00+08:00"));
}

#[test]
fn tuesday_1800_end_of_day_is_wednesday_1800() {
    let cal = business(&[], &[]);
    assert_eq!(
        due(&cal, TimerKind::Plan, "2026-10-20T18:00:00+08:00", "end_of_day", "1h"),
        at("2026-10-21T18:00:00+08:00")
    );
}

#[test]
fn national_day_level_three_plan_and_resolution_span_the_holiday_and_a_makeup_saturday() {
    let cal = cn2026();
    let start = "2026-09-30T17:00:00+08:00";
    assert_eq!(due(&cal, TimerKind::Plan, start, "2h", "2h"), at("2026-10-08T10:00:00+08:00"));
    assert_eq!(due(&cal, TimerKind::Resolution, start, "3d", "2h"), at("2026-10-10T17:00:00+08:00"));
}

#[test]
fn saturday_hours_bound_one_day_targets_from_friday() {
    let wd = day(&["08:00-20:00"]);
    let week = [wd.clone(), wd.clone(), wd.clone(), wd.clone(), wd, day(&["10:00-14:00"]), DayHours::default()];
    let cal = Calendar::weekly("Asia/Shanghai", week, [], []).unwrap();
    assert_eq!(
        due(&cal, TimerKind::Resolution, "2026-10-16T09:00:00+08:00", "1d", "1h"),
        at("2026-10-17T10:00:00+08:00")
    );
    assert_eq!(
        due(&cal, TimerKind::Resolution, "2026-10-16T15:00:00+08:00", "1d", "1h"),
        at("2026-10-17T14:00:00+08:00")
    );
}

#[test]
fn berlin_one_day_across_spring_forward_skips_the_missing_hour() {
    let cal = Calendar::always("Europe/Berlin").unwrap();
    let one = |s| due(&cal, TimerKind::Resolution, s, "1d", "1h");
    assert_eq!(one("2027-03-27T02:30:00+01:00"), at("2027-03-28T03:30:00+02:00"));
    let from_noon = at("2027-03-27T12:00:00+01:00");
    assert_eq!(one("2027-03-27T12:00:00+01:00"), at("2027-03-28T12:00:00+02:00"));
    assert_eq!(one("2027-03-27T12:00:00+01:00") - from_noon, 23 * 3600);
}

#[test]
fn berlin_one_day_across_fall_back_takes_25_hours() {
    let cal = Calendar::always("Europe/Berlin").unwrap();
    let from = "2026-10-24T12:00:00+02:00";
    let due_at = due(&cal, TimerKind::Resolution, from, "1d", "1h");
    assert_eq!(due_at, at("2026-10-25T12:00:00+01:00"));
    assert_eq!(due_at - at(from), 25 * 3600);
}

#[test]
fn berlin_end_of_day_on_the_25_hour_day_is_midnight_cet() {
    let cal = Calendar::always("Europe/Berlin").unwrap();
    let eod = due(&cal, TimerKind::Plan, "2026-10-25T01:00:00+02:00", "end_of_day", "1h");
    assert_eq!(eod, at("2026-10-26T00:00:00+01:00"));
    assert_eq!(eod - cal.instant(jiff::civil::date(2026, 10, 25), 0).unwrap(), 25 * 3600);
}

fn night_desk() -> Calendar {
    let night = day(&["21:00-24:00"]);
    let early = day(&["00:00-05:00"]);
    let both = day(&["00:00-05:00", "21:00-24:00"]);
    let week = [night, both.clone(), both.clone(), both.clone(), both, early, DayHours::default()];
    Calendar::weekly("Asia/Shanghai", week, [], []).unwrap()
}

#[test]
fn night_desk_counts_minutes_through_midnight() {
    // Mon 2026-10-19 23:45 + 30m → Tue 00:15.
    assert_eq!(
        due(&night_desk(), TimerKind::Response, "2026-10-19T23:45:00+08:00", "30m", "30m"),
        at("2026-10-20T00:15:00+08:00")
    );
}

#[test]
fn night_desk_end_of_day_ends_at_midnight_because_tuesday_is_another_working_day() {
    assert_eq!(
        due(&night_desk(), TimerKind::Plan, "2026-10-19T23:30:00+08:00", "end_of_day", "30m"),
        at("2026-10-20T00:00:00+08:00")
    );
}

#[test]
fn new_york_working_hours_follow_the_local_clock_across_dst() {
    let wd = day(&["09:00-17:00"]);
    let week = [wd.clone(), wd.clone(), wd.clone(), wd.clone(), wd, DayHours::default(), DayHours::default()];
    let cal = Calendar::weekly("America/New_York", week, [], []).unwrap();
    // Fri 2027-03-12 16:00 EST + 2h → Mon 03-15 10:00 EDT (clocks went forward on Sunday).
    assert_eq!(due(&cal, TimerKind::Plan, "2027-03-12T16:00:00-05:00", "2h", "2h"), at("2027-03-15T10:00:00-04:00"));
    // 1d from Fri 2026-10-30 10:00 EDT → Mon 11-02 10:00 EST, 73 hours later.
    let d = due(&cal, TimerKind::Resolution, "2026-10-30T10:00:00-04:00", "1d", "1h");
    assert_eq!(d, at("2026-11-02T10:00:00-05:00"));
    assert_eq!(d - at("2026-10-30T10:00:00-04:00"), 73 * 3600);
}

#[test]
fn working_time_during_a_repeated_hour_is_real_elapsed_time() {
    // Berlin, an interval 02:00-04:00 on the fall-back day holds three real hours.
    let all = day(&["02:00-04:00"]);
    let week = std::array::from_fn(|_| all.clone());
    let cal = Calendar::weekly("Europe/Berlin", week, [], []).unwrap();
    let from = at("2026-10-25T02:00:00+02:00");
    assert_eq!(cal.working_between(from, at("2026-10-25T04:00:00+01:00")).unwrap(), 3 * 3600);
}

#[test]
fn interval_syntax_is_strict() {
    assert_eq!(parse_interval("09:00-12:00"), Ok((9 * 3600, 12 * 3600)));
    assert_eq!(parse_interval("22:00-24:00"), Ok((22 * 3600, 86_400)));
    for bad in ["24:00-24:00", "12:00-09:00", "9:00-12:00", "09:00-09:00", "09:60-10:00", "22:00-02:00", "09:00"] {
        assert!(parse_interval(bad).is_err(), "{bad}");
    }
}

#[test]
fn date_ranges_expand_inclusively_and_refuse_reversed_bounds() {
    assert_eq!(parse_dates("2026-10-01..2026-10-07").unwrap().len(), 7);
    assert!(parse_dates("2026-10-07..2026-10-01").is_err());
    assert!(parse_dates("2026-13-01").is_err());
}
