//! Conditions on the series an exporter serves (`exporter` checks):
//!
//! - `[METRIC name{label="value",…}] <op> <number>`: every series of that name whose labels
//!   include the ones given;
//! - `[RATIO a / b {label="value",…}] <op> <number>`: each series of `a` divided by the series of
//!   `b` with exactly the same labels (`node_filesystem_avail_bytes / node_filesystem_size_bytes`
//!   pairs each mount with its own size).
//!
//! Facts about a host are read with `[COUNT name{labels}] <op> <n>` (how many series match: CPU
//! cores are `[COUNT node_cpu_seconds_total{mode="idle"}]`) and `[LABEL name{labels} label] <op>
//! <text>` (a label's value: `==` and `!=` compare text, the others compare versions number by
//! number, so `[LABEL node_uname_info release] >= 5.10` holds for `6.1.0-18-amd64`).
//!
//! For `prometheus` checks, whose series are a PromQL query's answer: `[VALUE] <op> <number>`
//! (every series of the answer) and `[SERIES] <op> <count>` (how many there are: `[SERIES] == 0`
//! for "no alert firing", each one found named).
//!
//! The number may carry a unit: bytes `B`, `KB`, `MB`, `GB`, `TB` (powers of 1000) or `KiB`,
//! `MiB`, `GiB`, `TiB` (powers of 1024); seconds `ms`, `s`, `m`, `h`, `d`; or `%` (a fraction:
//! `10%` is 0.1). Every matching series must hold; when some do not, the condition fails on the
//! worst (the lowest for `>`/`>=`, the highest for `<`/`<=`) and names it with its value. No
//! matching series at all fails too, saying so. NaN never holds.

use super::conditions::Op;
use super::exposition::{Series, escape};

/// Which series a condition reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl Selector {
    fn matches(&self, s: &Series) -> bool {
        s.name == self.name && self.labels.iter().all(|(n, v)| s.label(n) == Some(v.as_str()))
    }

    fn shown(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect();
        if labels.is_empty() { self.name.clone() } else { format!("{}{{{}}}", self.name, labels.join(",")) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Metric(Selector),
    /// Every series (a PromQL answer's).
    Value,
    /// How many series there are.
    Count,
    /// `a / b`, each `a` series over the `b` series with the same labels.
    Ratio(Selector, Selector),
    /// How many series match.
    CountOf(Selector),
    /// A label's value on each matching series.
    Label(Selector, String),
}

/// A number with its unit: the value in base units, and how to show observed values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub value: f64,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Plain,
    Bytes(&'static str, u64),
    Seconds,
    Percent,
}

/// `[METRIC …]` or `[RATIO …]`; `None` when `s` is neither.
pub fn parse_query(s: &str) -> Option<Result<Query, String>> {
    match s {
        "[VALUE]" => return Some(Ok(Query::Value)),
        "[SERIES]" => return Some(Ok(Query::Count)),
        _ => {}
    }
    let inner = |p: &str| s.strip_prefix(p).and_then(|x| x.strip_suffix(']')).map(str::trim);
    if let Some(m) = inner("[METRIC ") {
        return Some(selector(m).map(Query::Metric));
    }
    if let Some(m) = inner("[COUNT ") {
        return Some(selector(m).map(Query::CountOf));
    }
    if let Some(m) = inner("[LABEL ") {
        return Some(match m.rsplit_once(' ') {
            Some((sel, label)) if !label.is_empty() => selector(sel.trim()).map(|s| Query::Label(s, label.to_string())),
            _ => Err("expected `[LABEL name{labels} label]`".into()),
        });
    }
    let r = inner("[RATIO ")?;
    Some((|| {
        let (a, rest) = r.split_once(" / ").ok_or("expected `[RATIO a / b {labels}]`")?;
        let rest = rest.trim();
        let (b, labels) = match rest.find('{') {
            Some(i) => (rest[..i].trim(), &rest[i..]),
            None => (rest, ""),
        };
        let a = selector(&format!("{}{labels}", a.trim()))?;
        let b = selector(&format!("{b}{labels}"))?;
        Ok(Query::Ratio(a, b))
    })())
}

/// `name` or `name{a="1",b="2"}`, read with the exposition format's own rules.
fn selector(s: &str) -> Result<Selector, String> {
    let series = super::exposition::parse(&format!("{s} 0")).map_err(|e| format!("`{s}`: {}", e.reason))?;
    match series.as_slice() {
        [one] => Ok(Selector { name: one.name.clone(), labels: one.labels.clone() }),
        _ => Err(format!("`{s}` is not a metric name with optional labels")),
    }
}

/// `10GB`, `0.5`, `90%`, `65535`, `30s`.
pub fn threshold(s: &str) -> Result<Threshold, String> {
    const UNITS: [(&str, Unit, f64); 14] = [
        ("KiB", Unit::Bytes("KiB", 1 << 10), 1024.0),
        ("MiB", Unit::Bytes("MiB", 1 << 20), 1_048_576.0),
        ("GiB", Unit::Bytes("GiB", 1 << 30), 1_073_741_824.0),
        ("TiB", Unit::Bytes("TiB", 1 << 40), 1_099_511_627_776.0),
        ("KB", Unit::Bytes("KB", 1_000), 1e3),
        ("MB", Unit::Bytes("MB", 1_000_000), 1e6),
        ("GB", Unit::Bytes("GB", 1_000_000_000), 1e9),
        ("TB", Unit::Bytes("TB", 1_000_000_000_000), 1e12),
        ("ms", Unit::Seconds, 1e-3),
        ("B", Unit::Bytes("B", 1), 1.0),
        ("s", Unit::Seconds, 1.0),
        ("m", Unit::Seconds, 60.0),
        ("h", Unit::Seconds, 3600.0),
        ("d", Unit::Seconds, 86_400.0),
    ];
    let s = s.trim();
    let (number, unit, scale) = if let Some(n) = s.strip_suffix('%') {
        (n, Unit::Percent, 0.01)
    } else {
        UNITS.iter().find_map(|(suffix, unit, scale)| s.strip_suffix(suffix).map(|n| (n, *unit, *scale))).unwrap_or((
            s,
            Unit::Plain,
            1.0,
        ))
    };
    let n: f64 = number
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("`{s}` is not a number (units: B, KB…TB, KiB…TiB, ms, s, m, h, d, %)"))?;
    Ok(Threshold { value: n * scale, unit })
}

impl Threshold {
    /// `v` in the threshold's unit: `3.20 GB`, `12.5%`.
    fn show(&self, v: f64) -> String {
        match self.unit {
            Unit::Bytes(name, size) => format!("{:.2} {name}", v / size as f64),
            Unit::Percent => format!("{:.2}%", v * 100.0),
            Unit::Seconds => format!("{v:.3} s"),
            Unit::Plain if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
            Unit::Plain => format!("{v}"),
        }
    }
}

/// The values the query reads: each with the series it came from.
fn values(q: &Query, series: &[Series]) -> Vec<(String, f64)> {
    match q {
        Query::Metric(sel) => series.iter().filter(|s| sel.matches(s)).map(|s| (s.to_string(), s.value)).collect(),
        Query::Value => series.iter().map(|s| (s.to_string(), s.value)).collect(),
        Query::Count | Query::CountOf(_) | Query::Label(..) => Vec::new(),
        Query::Ratio(a, b) => series
            .iter()
            .filter(|s| a.matches(s))
            .filter_map(|sa| {
                let sb = series.iter().find(|sb| sb.name == b.name && sb.labels_equal(sa))?;
                Some((format!("{sa} / {}", sb.name), sa.value / sb.value))
            })
            .collect(),
    }
}

impl Series {
    /// The same labels, in any order.
    fn labels_equal(&self, other: &Series) -> bool {
        self.labels.len() == other.labels.len() && self.labels.iter().all(|(n, v)| other.label(n) == Some(v.as_str()))
    }
}

/// Whether `right` suits the query: a number (with a unit) for all but `[LABEL …]`.
pub fn validate(q: &Query, right: &str) -> Result<(), String> {
    match q {
        Query::Label(..) => Ok(()),
        _ => threshold(right).map(|_| ()),
    }
}

/// Whether the query holds `op right` on `series`; if not, what was seen (the worst series).
pub fn check(q: &Query, op: Op, right: &str, series: &[Series]) -> Result<(), String> {
    if let Query::Label(sel, label) = q {
        return check_label(sel, label, op, right, series);
    }
    let t = threshold(right)?;
    let counted: Option<Vec<&Series>> = match q {
        Query::Count => Some(series.iter().collect()),
        Query::CountOf(sel) => Some(series.iter().filter(|s| sel.matches(s)).collect()),
        _ => None,
    };
    if let Some(found) = counted {
        let n = found.len() as f64;
        if n.partial_cmp(&t.value).is_some_and(|o| op.holds(o)) {
            return Ok(());
        }
        let named: Vec<String> = found.iter().take(5).map(|s| s.to_string()).collect();
        let more = if found.len() > 5 { format!(" and {} more", found.len() - 5) } else { String::new() };
        return Err(if named.is_empty() {
            "0 series".into()
        } else {
            format!("{n} series: {}{more}", named.join(", "))
        });
    }
    let seen = values(q, series);
    if seen.is_empty() {
        let what = match q {
            Query::Metric(s) => s.shown(),
            Query::Ratio(a, b) => format!("{} over {}", a.shown(), b.name),
            Query::Value | Query::Count | Query::CountOf(_) | Query::Label(..) => "in the answer".into(),
        };
        return Err(format!("(no series {what})"));
    }
    let holds = |v: f64| v.partial_cmp(&t.value).is_some_and(|o| op.holds(o));
    let failing: Vec<&(String, f64)> = seen.iter().filter(|(_, v)| !holds(*v)).collect();
    // The worst: NaN first, then the farthest on the wrong side.
    let worst = failing.iter().copied().max_by(|x, y| {
        let badness = |v: f64| match op {
            Op::Gt | Op::Ge => -v,
            Op::Lt | Op::Le => v,
            Op::Eq | Op::Ne => (v - t.value).abs(),
        };
        let key = |v: f64| if v.is_nan() { f64::INFINITY } else { badness(v) };
        key(x.1).total_cmp(&key(y.1))
    });
    match worst {
        None => Ok(()),
        Some((name, v)) => {
            let of = if seen.len() > 1 {
                format!(" ({} of {} series fail)", failing.len(), seen.len())
            } else {
                String::new()
            };
            Err(format!("{name} = {}{of}", t.show(*v)))
        }
    }
}

/// What the query sees on `series`, shown as a person reads it (in `right`'s unit): one value, or
/// the lowest and highest of several, a count, or a label's values.
pub fn observed(q: &Query, right: &str, series: &[Series]) -> String {
    let shown = |vs: Vec<String>| {
        let mut vs = vs;
        vs.dedup();
        match vs.len() {
            0 => "(none)".to_string(),
            1..=3 => vs.join(", "),
            n => format!("{}, … ({n} series)", vs[..3].join(", ")),
        }
    };
    match q {
        Query::Label(sel, label) => {
            shown(series.iter().filter(|s| sel.matches(s)).filter_map(|s| s.label(label)).map(str::to_string).collect())
        }
        Query::Count => series.len().to_string(),
        Query::CountOf(sel) => series.iter().filter(|s| sel.matches(s)).count().to_string(),
        _ => {
            let t = threshold(right).unwrap_or(Threshold { value: 0.0, unit: Unit::Plain });
            let mut values: Vec<f64> = values(q, series).into_iter().map(|(_, v)| v).collect();
            values.sort_by(f64::total_cmp);
            match values.as_slice() {
                [] => "(none)".into(),
                [one] => t.show(*one),
                [lo, .., hi] => format!("{} – {} ({} series)", t.show(*lo), t.show(*hi), values.len()),
            }
        }
    }
}

/// `[LABEL …]`: every matching series' label holds; else the first that does not.
fn check_label(sel: &Selector, label: &str, op: Op, right: &str, series: &[Series]) -> Result<(), String> {
    let matching: Vec<&Series> = series.iter().filter(|s| sel.matches(s)).collect();
    if matching.is_empty() {
        return Err(format!("(no series {})", sel.shown()));
    }
    for s in matching {
        let Some(value) = s.label(label) else { return Err(format!("{s} has no label `{label}`")) };
        let ord = match op {
            Op::Eq | Op::Ne => value.cmp(right),
            _ => version_cmp(value, right),
        };
        if !op.holds(ord) {
            return Err(format!("{} {label} = \"{}\"", s.name, escape(value)));
        }
    }
    Ok(())
}

/// Versions compared number by number (`6.1.0-18-amd64` > `5.10`); what follows the numbers is
/// ignored, and a missing number counts as 0.
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let numbers = |v: &str| -> Vec<u64> {
        v.split(|c: char| !c.is_ascii_digit())
            .take_while(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect()
    };
    let (x, y) = (numbers(a), numbers(b));
    (0..x.len().max(y.len()))
        .map(|i| x.get(i).copied().unwrap_or(0).cmp(&y.get(i).copied().unwrap_or(0)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::check::exposition::parse;

    const NODE: &str = r#"
node_filesystem_avail_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"} 5.0e+10
node_filesystem_size_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"} 1.0e+11
node_filesystem_avail_bytes{device="/dev/vdb",fstype="xfs",mountpoint="/data"} 3.0e+09
node_filesystem_size_bytes{device="/dev/vdb",fstype="xfs",mountpoint="/data"} 1.0e+11
node_timex_offset_seconds 0.002
node_systemd_unit_state{name="nginx.service",state="active",type="service"} 1
node_systemd_unit_state{name="nginx.service",state="failed",type="service"} 0
node_load1 NaN
"#;

    fn run(q: &str, op: Op, t: &str) -> Result<(), String> {
        let q = parse_query(q).unwrap().unwrap();
        check(&q, op, t, &parse(NODE).unwrap())
    }

    #[test]
    fn the_documented_conditions_hold_or_fail_on_the_worst_series() {
        assert_eq!(run(r#"[METRIC node_filesystem_avail_bytes{mountpoint="/"}]"#, Op::Gt, "10GB"), Ok(()));
        assert_eq!(
            run("[METRIC node_filesystem_avail_bytes]", Op::Gt, "10GB").unwrap_err(),
            r#"node_filesystem_avail_bytes{device="/dev/vdb",fstype="xfs",mountpoint="/data"} = 3.00 GB (1 of 2 series fail)"#
        );
        assert_eq!(run("[METRIC node_timex_offset_seconds]", Op::Lt, "0.5"), Ok(()));
        assert_eq!(
            run("[METRIC node_timex_offset_seconds]", Op::Lt, "1ms").unwrap_err(),
            "node_timex_offset_seconds = 0.002 s"
        );
        assert_eq!(
            run(
                r#"[RATIO node_filesystem_avail_bytes / node_filesystem_size_bytes {mountpoint="/data"}]"#,
                Op::Gt,
                "0.1"
            )
            .unwrap_err(),
            r#"node_filesystem_avail_bytes{device="/dev/vdb",fstype="xfs",mountpoint="/data"} / node_filesystem_size_bytes = 0.03"#
        );
        assert_eq!(
            run("[RATIO node_filesystem_avail_bytes / node_filesystem_size_bytes]", Op::Ge, "20%").unwrap_err(),
            r#"node_filesystem_avail_bytes{device="/dev/vdb",fstype="xfs",mountpoint="/data"} / node_filesystem_size_bytes = 3.00% (1 of 2 series fail)"#
        );
        let unit = r#"[METRIC node_systemd_unit_state{name="nginx.service",state="active"}]"#;
        assert_eq!(run(unit, Op::Eq, "1"), Ok(()));
        assert_eq!(
            run(r#"[METRIC node_systemd_unit_state{name="sshd.service"}]"#, Op::Eq, "1").unwrap_err(),
            r#"(no series node_systemd_unit_state{name="sshd.service"})"#
        );
        assert_eq!(run("[METRIC node_load1]", Op::Lt, "4").unwrap_err(), "node_load1 = NaN");
    }

    #[test]
    fn a_query_answer_holds_on_every_value_and_counts_its_series() {
        let answer = parse("up{instance=\"a\"} 1\nup{instance=\"b\"} 0\n").unwrap();
        assert_eq!(check(&Query::Value, Op::Ge, "0", &answer), Ok(()));
        assert_eq!(
            check(&Query::Value, Op::Eq, "1", &answer).unwrap_err(),
            r#"up{instance="b"} = 0 (1 of 2 series fail)"#
        );
        assert_eq!(
            check(&Query::Count, Op::Eq, "0", &answer).unwrap_err(),
            r#"2 series: up{instance="a"}, up{instance="b"}"#
        );
        assert_eq!(check(&Query::Count, Op::Eq, "0", &[]), Ok(()));
        assert_eq!(check(&Query::Value, Op::Lt, "1", &[]).unwrap_err(), "(no series in the answer)");
    }

    #[test]
    fn host_facts_are_counted_and_labels_compared_as_text_or_versions() {
        let host = parse(concat!(
            "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1\nnode_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1\n",
            "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 1\n",
            "node_uname_info{release=\"6.1.0-18-amd64\",sysname=\"Linux\"} 1\n"
        ))
        .unwrap();
        let q = |s: &str| parse_query(s).unwrap().unwrap();
        let cores = q(r#"[COUNT node_cpu_seconds_total{mode="idle"}]"#);
        assert_eq!(check(&cores, Op::Ge, "2", &host), Ok(()));
        assert_eq!(
            check(&cores, Op::Ge, "8", &host).unwrap_err(),
            r#"2 series: node_cpu_seconds_total{cpu="0",mode="idle"}, node_cpu_seconds_total{cpu="1",mode="idle"}"#
        );
        let release = q("[LABEL node_uname_info release]");
        assert_eq!(check(&release, Op::Ge, "5.10", &host), Ok(()));
        assert_eq!(
            check(&release, Op::Ge, "6.12", &host).unwrap_err(),
            r#"node_uname_info release = "6.1.0-18-amd64""#
        );
        assert_eq!(check(&q("[LABEL node_uname_info sysname]"), Op::Eq, "Linux", &host), Ok(()));
        assert!(
            check(&q("[LABEL node_uname_info machine]"), Op::Eq, "x86_64", &host).unwrap_err().contains("no label")
        );
        assert_eq!(version_cmp("10.0", "9.9"), std::cmp::Ordering::Greater);
        assert_eq!(version_cmp("5.10", "5.10.0"), std::cmp::Ordering::Equal);
        assert!(validate(&release, "any text").is_ok() && validate(&cores, "eight").is_err());
    }

    #[test]
    fn bad_queries_and_numbers_say_why() {
        assert!(parse_query("[STATUS]").is_none());
        assert!(parse_query("[METRIC x{a=1}]").unwrap().unwrap_err().contains("expected `\"`"));
        assert!(parse_query("[RATIO a b]").unwrap().unwrap_err().contains("[RATIO a / b"));
        assert!(threshold("10 parsecs").unwrap_err().contains("not a number"));
        assert!(threshold("NaN").is_err());
        assert_eq!(threshold("1.5GiB").unwrap().value, 1.5 * 1_073_741_824.0);
        assert_eq!(threshold("10%").unwrap().value, 0.1);
        assert_eq!(threshold("2m").unwrap().value, 120.0);
        assert_eq!(threshold("65535").unwrap().value, 65535.0);
    }
}
