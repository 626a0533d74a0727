//! Check conditions in Gatus's syntax (a documented subset): `<left> <op> <right>` with the
//! operator surrounded by spaces; every condition must hold. Parsing happens once, when a check
//! is created or loaded, so that bad syntax is an error pointing at the condition, never a
//! failure at run time.
//!
//! Left: `[STATUS]`, `[RESPONSE_TIME]` (ms), `[BODY]` with an optional path (`[BODY].a.b[0]`),
//! `[CONNECTED]`, `[CERTIFICATE_EXPIRATION]` (a duration), `[DNS_RCODE]`, `[IP]`,
//! `[DISK_FREE_PERCENT]` (the fullest mount), `[MEMORY_FREE_PERCENT]`, `[LOAD]` (one-minute load
//! per core), or `len(…)` / `has(…)` of a body path; for exporter checks `[METRIC …]` and
//! `[RATIO …]` over the series served ([`super::metric`]). Right: a literal, `any(a, b, …)` or
//! `pat(glob)` (the last two with `==` and `!=` only).
//!
//! Bounded so that a check cannot burn the machine: a `pat()` pattern has at most
//! `PATTERN_MAX` characters and is matched against at most the first `MATCHED_MAX` bytes of the
//! value; what a result stores as observed is at most `OBSERVED_MAX` bytes, marked when cut.

use std::fmt;

use serde_json::Value;

use super::exposition::Series;
use super::glob::glob;
use super::metric;
use crate::domain::sla::parse_hms;

/// The longest `pat()` pattern, in characters.
pub const PATTERN_MAX: usize = 200;
/// How much of a value `pat()` looks at, in bytes (the start of it).
pub const MATCHED_MAX: usize = 64 * 1024;
/// How much of an observed value a result keeps, in bytes.
pub const OBSERVED_MAX: usize = 4096;

/// At most `max` bytes of `s` (cut at a character boundary), with a marker saying how long it
/// was when cut.
pub fn clip(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    format!("{}… [truncated: {} bytes in all]", head(&s, max), s.len())
}

/// The longest start of `s` of at most `max` bytes that ends on a character boundary.
fn head(s: &str, max: usize) -> &str {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Longest first, so that ` <= ` is not read as ` < `.
    const ALL: [(&'static str, Op); 6] =
        [(" == ", Op::Eq), (" != ", Op::Ne), (" <= ", Op::Le), (" >= ", Op::Ge), (" < ", Op::Lt), (" > ", Op::Gt)];

    pub(super) fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    Status,
    ResponseTime,
    Body(Vec<PathSeg>),
    Connected,
    CertificateExpiration,
    DnsRcode,
    Ip,
    DiskFreePercent,
    MemoryFreePercent,
    Load,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    Value(Placeholder),
    Len(Vec<PathSeg>),
    Has(Vec<PathSeg>),
    /// Series an exporter served; the right-hand side is a number with an optional unit.
    Series(metric::Query),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Right {
    Literal(String),
    Any(Vec<String>),
    Pat(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub text: String,
    left: Left,
    op: Op,
    right: Right,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What one probe observed; a placeholder the probe kind does not produce is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub status: Option<u16>,
    pub response_time_ms: Option<u64>,
    pub body: Option<String>,
    pub connected: bool,
    /// Seconds until the earliest certificate in the chain expires (negative once expired).
    pub certificate_expires_in_secs: Option<i64>,
    pub dns_rcode: Option<String>,
    pub ip: Option<String>,
    /// The fullest mount: (mount point, free percent).
    pub disk_free: Option<(String, f64)>,
    pub memory_free_percent: Option<f64>,
    pub load_per_core: Option<f64>,
    /// exporter: the series served.
    pub series: Vec<Series>,
}

/// A condition that did not hold, and what was seen instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub condition: String,
    pub observed: String,
}

pub fn parse(text: &str) -> Result<Condition, String> {
    let text = text.trim();
    let (pos, sym, op) = Op::ALL
        .iter()
        .filter_map(|(sym, op)| text.find(sym).map(|p| (p, *sym, *op)))
        .min_by_key(|(p, _, _)| *p)
        .ok_or("expected `<left> <operator> <right>` with spaces around ==, !=, <, <=, > or >=")?;
    let (l, r) = (text[..pos].trim(), text[pos + sym.len()..].trim());
    let left = parse_left(l)?;
    let right = parse_right(r)?;
    if matches!(right, Right::Any(_) | Right::Pat(_)) && !matches!(op, Op::Eq | Op::Ne) {
        return Err("any() and pat() work with == and != only".into());
    }
    if r.is_empty() {
        return Err("the right-hand side is empty".into());
    }
    if let Left::Series(q) = &left {
        let Right::Literal(lit) = &right else { return Err("a series is compared with a literal".into()) };
        metric::validate(q, lit)?;
    }
    Ok(Condition { text: text.to_string(), left, op, right })
}

fn parse_left(s: &str) -> Result<Left, String> {
    if let Some(query) = metric::parse_query(s) {
        return query.map(Left::Series);
    }
    if let Some(inner) = s.strip_prefix("len(").and_then(|x| x.strip_suffix(')')) {
        return Ok(Left::Len(body_path(inner.trim())?));
    }
    if let Some(inner) = s.strip_prefix("has(").and_then(|x| x.strip_suffix(')')) {
        return Ok(Left::Has(body_path(inner.trim())?));
    }
    let p = match s {
        "[STATUS]" => Placeholder::Status,
        "[RESPONSE_TIME]" => Placeholder::ResponseTime,
        "[CONNECTED]" => Placeholder::Connected,
        "[CERTIFICATE_EXPIRATION]" => Placeholder::CertificateExpiration,
        "[DNS_RCODE]" => Placeholder::DnsRcode,
        "[IP]" => Placeholder::Ip,
        "[DISK_FREE_PERCENT]" => Placeholder::DiskFreePercent,
        "[MEMORY_FREE_PERCENT]" => Placeholder::MemoryFreePercent,
        "[LOAD]" => Placeholder::Load,
        _ if s.starts_with("[BODY]") => Placeholder::Body(body_path(s)?),
        _ => return Err(format!("unknown placeholder `{s}`")),
    };
    Ok(Left::Value(p))
}

/// `[BODY]`, `[BODY].a.b[0].c` → its path segments.
fn body_path(s: &str) -> Result<Vec<PathSeg>, String> {
    let rest = s.strip_prefix("[BODY]").ok_or_else(|| format!("expected a [BODY] path, found `{s}`"))?;
    let mut segs = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    key.push(n);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(format!("empty key in `{s}`"));
                }
                segs.push(PathSeg::Key(key));
            }
            '[' => {
                let mut idx = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    idx.push(n);
                }
                segs.push(PathSeg::Index(idx.parse().map_err(|_| format!("`[{idx}]` is not an index in `{s}`"))?));
            }
            _ => return Err(format!("unexpected `{c}` in `{s}`")),
        }
    }
    Ok(segs)
}

fn parse_right(s: &str) -> Result<Right, String> {
    if let Some(inner) = s.strip_prefix("any(").and_then(|x| x.strip_suffix(')')) {
        let items: Vec<String> = inner.split(',').map(|x| x.trim().to_string()).collect();
        if items.iter().any(String::is_empty) {
            return Err("any() needs values separated by commas".into());
        }
        return Ok(Right::Any(items));
    }
    if let Some(inner) = s.strip_prefix("pat(").and_then(|x| x.strip_suffix(')')) {
        if inner.chars().count() > PATTERN_MAX {
            return Err(format!("pat() patterns are at most {PATTERN_MAX} characters"));
        }
        return Ok(Right::Pat(inner.to_string()));
    }
    Ok(Right::Literal(s.to_string()))
}

/// A value read off an observation: a number where the placeholder is numeric.
enum Seen {
    Num(f64, String),
    Text(String),
    Missing,
}

impl Seen {
    fn shown(&self) -> String {
        match self {
            Seen::Num(_, s) | Seen::Text(s) => s.clone(),
            Seen::Missing => "(none)".into(),
        }
    }
}

fn lookup(body: Option<&str>, path: &[PathSeg]) -> Option<Value> {
    let body = body?;
    let mut v: Value = serde_json::from_str(body).ok()?;
    for seg in path {
        v = match (seg, v) {
            (PathSeg::Key(k), Value::Object(mut m)) => m.remove(k)?,
            (PathSeg::Index(i), Value::Array(mut a)) if *i < a.len() => a.swap_remove(*i),
            _ => return None,
        };
    }
    Some(v)
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn num(v: f64) -> Seen {
    Seen::Num(v, if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.2}") })
}

fn read(left: &Left, o: &Observation) -> Seen {
    let opt = |x: Option<Seen>| x.unwrap_or(Seen::Missing);
    match left {
        Left::Value(Placeholder::Status) => opt(o.status.map(|s| num(f64::from(s)))),
        Left::Value(Placeholder::ResponseTime) => opt(o.response_time_ms.map(|s| num(s as f64))),
        Left::Value(Placeholder::Connected) => Seen::Text(o.connected.to_string()),
        Left::Value(Placeholder::CertificateExpiration) => {
            opt(o.certificate_expires_in_secs.map(|s| Seen::Num(s as f64, format!("{}h", s / 3600))))
        }
        Left::Value(Placeholder::DnsRcode) => opt(o.dns_rcode.clone().map(Seen::Text)),
        Left::Value(Placeholder::Ip) => opt(o.ip.clone().map(Seen::Text)),
        Left::Value(Placeholder::DiskFreePercent) => {
            opt(o.disk_free.as_ref().map(|(m, p)| Seen::Num(*p, format!("{p:.1} ({m})"))))
        }
        Left::Value(Placeholder::MemoryFreePercent) => opt(o.memory_free_percent.map(num)),
        Left::Value(Placeholder::Load) => opt(o.load_per_core.map(num)),
        Left::Value(Placeholder::Body(path)) if path.is_empty() => opt(o.body.clone().map(Seen::Text)),
        Left::Value(Placeholder::Body(path)) => match lookup(o.body.as_deref(), path) {
            Some(Value::Number(n)) => n.as_f64().map_or(Seen::Missing, num),
            Some(v) => Seen::Text(json_text(&v)),
            None => Seen::Missing,
        },
        Left::Len(path) if path.is_empty() => opt(o.body.as_ref().map(|b| num(b.chars().count() as f64))),
        Left::Len(path) => match lookup(o.body.as_deref(), path) {
            Some(Value::Array(a)) => num(a.len() as f64),
            Some(Value::Object(m)) => num(m.len() as f64),
            Some(Value::String(s)) => num(s.chars().count() as f64),
            _ => Seen::Missing,
        },
        Left::Has(path) => Seen::Text(lookup(o.body.as_deref(), path).is_some().to_string()),
        Left::Series(_) => Seen::Missing,
    }
}

/// The right-hand literal as a number: durations (`72h`) in seconds for certificate expiry.
fn literal_num(left: &Left, lit: &str) -> Option<f64> {
    if matches!(left, Left::Value(Placeholder::CertificateExpiration)) {
        return parse_hms(lit).map(|s| s as f64).or_else(|| lit.parse().ok());
    }
    lit.parse().ok()
}

impl Condition {
    /// Whether it reads series (`[METRIC …]` and the like): what an environment profile holds.
    pub fn reads_series(&self) -> bool {
        matches!(self.left, Left::Series(_))
    }

    /// What a series condition sees, held or not (`None` for the others).
    pub fn observed(&self, o: &Observation) -> Option<String> {
        match (&self.left, &self.right) {
            (Left::Series(q), Right::Literal(lit)) => Some(clip(metric::observed(q, lit, &o.series), OBSERVED_MAX)),
            _ => None,
        }
    }

    pub fn check(&self, o: &Observation) -> Result<(), Unmet> {
        let unmet = |observed: String| Unmet { condition: self.text.clone(), observed: clip(observed, OBSERVED_MAX) };
        if let (Left::Series(q), Right::Literal(lit)) = (&self.left, &self.right) {
            return metric::check(q, self.op, lit, &o.series).map_err(unmet);
        }
        let seen = read(&self.left, o);
        let eq = |lit: &str| match &seen {
            Seen::Num(v, _) => literal_num(&self.left, lit).is_some_and(|l| *v == l),
            Seen::Text(t) => t == lit,
            Seen::Missing => false,
        };
        let ok = match (&self.right, self.op) {
            (Right::Any(items), Op::Eq) => items.iter().any(|i| eq(i)),
            (Right::Any(items), _) => !items.iter().any(|i| eq(i)),
            (Right::Pat(p), op) => {
                let m = matches!(&seen, Seen::Num(..) | Seen::Text(_)) && glob(p, head(&seen.shown(), MATCHED_MAX));
                if op == Op::Eq { m } else { !m }
            }
            (Right::Literal(lit), Op::Eq) => eq(lit),
            (Right::Literal(lit), Op::Ne) => !eq(lit),
            (Right::Literal(lit), op) => match (&seen, literal_num(&self.left, lit)) {
                (Seen::Num(v, _), Some(l)) => v.partial_cmp(&l).is_some_and(|o| op.holds(o)),
                (Seen::Text(t), None) => op.holds(t.as_str().cmp(lit.as_str())),
                _ => false,
            },
        };
        if ok { Ok(()) } else { Err(unmet(seen.shown())) }
    }
}

/// The first condition that does not hold.
pub fn first_unmet(conditions: &[Condition], o: &Observation) -> Option<Unmet> {
    conditions.iter().find_map(|c| c.check(o).err())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs() -> Observation {
        Observation {
            status: Some(200),
            response_time_ms: Some(120),
            body: Some(r#"{"status":"UP","data":[{"id":7},{"id":8}],"note":"all ok"}"#.into()),
            connected: true,
            certificate_expires_in_secs: Some(48 * 3600),
            dns_rcode: Some("NOERROR".into()),
            disk_free: Some(("/".into(), 42.5)),
            ..Default::default()
        }
    }

    fn holds(c: &str) -> bool {
        parse(c).unwrap().check(&obs()).is_ok()
    }

    #[test]
    fn the_documented_examples_hold_or_fail_as_written() {
        assert!(holds("[STATUS] == 200"));
        assert!(!holds("[STATUS] == 204"));
        assert!(holds("[STATUS] == any(200, 204)"));
        assert!(!holds("[STATUS] != any(200, 204)"));
        assert!(holds("[RESPONSE_TIME] < 300"));
        assert!(!holds("[RESPONSE_TIME] < 100"));
        assert!(holds("[BODY].status == UP"));
        assert!(holds("[BODY].data[1].id == 8"));
        assert!(holds("[BODY] == pat(*\"status\":\"UP\"*)"));
        assert!(holds("[BODY].note == pat(*ok*)"));
        assert!(!holds("[BODY].note != pat(*ok*)"));
        assert!(holds("[CONNECTED] == true"));
        assert!(!holds("[CERTIFICATE_EXPIRATION] > 72h"));
        assert!(holds("[CERTIFICATE_EXPIRATION] > 24h"));
        assert!(holds("[DNS_RCODE] == NOERROR"));
        assert!(holds("[DISK_FREE_PERCENT] > 10"));
        assert!(holds("len([BODY].data) == 2"));
        assert!(holds("has([BODY].errors) == false"));
        assert!(holds("[STATUS] <= 200"));
        assert!(holds("[STATUS] >= 200"));
    }

    #[test]
    fn an_unmet_condition_reports_what_was_observed() {
        let u = parse("[DISK_FREE_PERCENT] > 101").unwrap().check(&obs()).unwrap_err();
        assert_eq!(u.condition, "[DISK_FREE_PERCENT] > 101");
        assert_eq!(u.observed, "42.5 (/)");
        let u = parse("[BODY].missing == x").unwrap().check(&obs()).unwrap_err();
        assert_eq!(u.observed, "(none)");
        let o = Observation { body: Some("not json".into()), ..obs() };
        assert!(parse("[BODY].status == UP").unwrap().check(&o).is_err());
        let o = Observation { status: None, connected: false, ..Default::default() };
        assert_eq!(parse("[STATUS] == 200").unwrap().check(&o).unwrap_err().observed, "(none)");
    }

    #[test]
    fn bad_syntax_is_an_error_that_says_why() {
        assert!(parse("[STATUS]==200").unwrap_err().contains("spaces"));
        assert!(parse("[STATUSX] == 200").unwrap_err().contains("unknown placeholder"));
        assert!(parse("[RESPONSE_TIME] < any(1, 2)").unwrap_err().contains("== and !="));
        assert!(parse("[BODY].a[x] == 1").unwrap_err().contains("index"));
        assert!(parse("[BODY]..a == 1").unwrap_err().contains("empty key"));
        assert!(parse("[STATUS] == any(200, )").is_err());
        let long = format!("[BODY] == pat({})", "*a".repeat(PATTERN_MAX / 2 + 1));
        assert!(parse(&long).unwrap_err().contains("at most 200 characters"));
    }

    #[test]
    fn matching_and_what_is_kept_are_bounded() {
        // A body of 1 MiB that ends with the text looked for: past MATCHED_MAX, so not seen.
        let mut o = obs();
        o.body = Some(format!("{}needle", "x".repeat(1 << 20)));
        let unmet = parse("[BODY] == pat(*needle)").unwrap().check(&o).unwrap_err();
        assert!(unmet.observed.len() < OBSERVED_MAX + 64, "{} bytes kept", unmet.observed.len());
        assert!(unmet.observed.ends_with("… [truncated: 1048582 bytes in all]"), "{}", &unmet.observed[4000..]);
        // Cut at a character boundary, never inside one.
        assert_eq!(clip("é".repeat(3000), OBSERVED_MAX).split('…').next().unwrap().len(), OBSERVED_MAX);
        assert_eq!(clip("short".into(), OBSERVED_MAX), "short");
    }
}
