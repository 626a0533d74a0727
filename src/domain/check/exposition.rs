//! Prometheus's text exposition format (version 0.0.4, what node_exporter and windows_exporter
//! serve), read into series. No maintained crate parses it fully: the ones on crates.io split
//! label values on `,` and `=`, so an escaped quote or a comma inside a value (`node_uname_info`'s
//! `version="#1 SMP PREEMPT_DYNAMIC …"`) breaks them. This is the whole grammar, small enough to
//! test against `promtool check metrics` (see the tests).
//!
//! What is read, and how:
//! - `name{label="value",…} value [timestamp]`; label values with `\\`, `\"` and `\n` escapes;
//!   values as Go writes floats, `NaN`, `+Inf` and `-Inf` included. The timestamp is ignored (a
//!   check judges what it sees now).
//! - Histograms and summaries are the series they are written as (`x_bucket{le="0.5"}`, `x_sum`,
//!   `x_count`, `x{quantile="0.9"}`), so a condition names the one it means.
//! - OpenMetrics bodies read the same: an exemplar (` # {trace_id="…"} 1.0`) is skipped, `# EOF`
//!   ends the body, `_total`, `_created` and `_info` suffixes are part of the name.
//! - `# HELP`, `# TYPE` and other comments are skipped; blank lines too.
//! - Refused, naming the line: anything else, including Prometheus 3's quoted UTF-8 metric names.

use std::fmt;

/// One sample: a metric name, its labels in the order written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Series {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Series {
    /// `name{a="1",b="2"}`, as a person would look it up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (n, v)) in self.labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                write!(f, "{sep}{n}=\"{}\"", escape(v))?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// A label value as the format writes it.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A line that is not the format, by number (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not Prometheus's text format at line {}: {}", self.line, self.reason)
    }
}

/// Every series of `body`, in order.
pub fn parse(body: &str) -> Result<Vec<Series>, Refused> {
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line).trim_start_matches([' ', '\t']);
        if line.trim_end().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if comment.trim() == "EOF" {
                break;
            }
            continue;
        }
        out.push(Line { text: line, at: 0 }.series().map_err(|reason| Refused { line: i + 1, reason })?);
    }
    Ok(out)
}

/// A cursor over one sample line.
struct Line<'a> {
    text: &'a str,
    at: usize,
}

impl Line<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn blanks(&mut self) -> usize {
        let n = self.rest().len() - self.rest().trim_start_matches([' ', '\t']).len();
        self.at += n;
        n
    }

    /// A run of `[a-zA-Z_:][a-zA-Z0-9_:]*` (`colons`) or `[a-zA-Z_][a-zA-Z0-9_]*`.
    fn name(&mut self, what: &str, colons: bool) -> Result<String, String> {
        let ok = |c: char, first: bool| {
            c.is_ascii_alphabetic() || c == '_' || (colons && c == ':') || (!first && c.is_ascii_digit())
        };
        let len = self.rest().char_indices().find(|&(i, c)| !ok(c, i == 0)).map_or(self.rest().len(), |(i, _)| i);
        if len == 0 {
            return Err(match self.peek() {
                Some('"') => format!("a quoted {what} (Prometheus 3's UTF-8 names) is not read"),
                Some(c) => format!("expected a {what}, found `{c}`"),
                None => format!("expected a {what}, found the end of the line"),
            });
        }
        let name = self.rest()[..len].to_string();
        self.at += len;
        Ok(name)
    }

    fn expect(&mut self, c: char, after: &str) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            Ok(())
        } else {
            Err(format!("expected `{c}` after {after}"))
        }
    }

    /// A quoted label value, unescaped.
    fn quoted(&mut self, label: &str) -> Result<String, String> {
        self.expect('"', &format!("`{label}=`"))?;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += i + 1;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => return Err(format!("unknown escape `\\{other}` in label `{label}`")),
                    None => break,
                },
                c => value.push(c),
            }
        }
        Err(format!("label `{label}`'s value has no closing quote"))
    }

    fn labels(&mut self) -> Result<Vec<(String, String)>, String> {
        let mut labels: Vec<(String, String)> = Vec::new();
        loop {
            self.blanks();
            if self.peek() == Some('}') {
                self.at += 1;
                return Ok(labels);
            }
            let name = self.name("label name", false)?;
            self.blanks();
            self.expect('=', &format!("label name `{name}`"))?;
            self.blanks();
            let value = self.quoted(&name)?;
            if labels.iter().any(|(n, _)| *n == name) {
                return Err(format!("label `{name}` appears twice"));
            }
            labels.push((name, value));
            self.blanks();
            match self.peek() {
                Some(',') => self.at += 1,
                Some('}') => {}
                _ => return Err("expected `,` or `}` after a label".into()),
            }
        }
    }

    fn series(mut self) -> Result<Series, String> {
        if self.rest().starts_with("{\"") {
            return Err("a quoted metric name (Prometheus 3's UTF-8 names) is not read".into());
        }
        let name = self.name("metric name", true)?;
        let mut spaced = self.blanks();
        let labels = if self.peek() == Some('{') {
            self.at += 1;
            let labels = self.labels()?;
            spaced = self.blanks();
            labels
        } else {
            Vec::new()
        };
        if spaced == 0 {
            return Err(format!("expected a space and a value after `{name}`"));
        }
        let mut words = self.rest().split([' ', '\t']).filter(|w| !w.is_empty());
        let value = words.next().ok_or_else(|| format!("`{name}` has no value"))?;
        let value = float(value).ok_or_else(|| format!("`{value}` is not a number"))?;
        // An optional timestamp, then an optional exemplar (OpenMetrics) after ` # `.
        match (words.next(), words.next()) {
            (None | Some("#"), _) => {}
            (Some(ts), None | Some("#")) if ts.parse::<f64>().is_ok() => {}
            (Some(ts), Some(extra)) if ts.parse::<f64>().is_ok() => {
                return Err(format!("unexpected `{extra}` after the timestamp"));
            }
            (Some(extra), _) => return Err(format!("unexpected `{extra}` after the value")),
        }
        Ok(Series { name, labels, value })
    }
}

/// A float as Go writes (and Prometheus reads) it.
fn float(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        // Rust would read these words too; the format does not.
        _ if s.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => None,
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    use super::*;

    fn one(line: &str) -> Result<Series, Refused> {
        parse(line).map(|mut v| v.remove(0))
    }

    #[test]
    fn reads_labels_with_escapes_special_values_exemplars_and_eof() {
        let body = "# HELP x help\n# TYPE x gauge\n\
            node_uname_info{machine=\"x86_64\",version=\"#1 SMP, a=b \\\"q\\\" \\\\ \\n\"} 1\n\
            up NaN\nd{le=\"+Inf\"} +Inf 1700000000000\nn -Inf\n\
            http_requests_total{code=\"200\",} 1027 # {trace_id=\"abc\"} 1.0 1.2\n\
            spaced { a = \"1\" , b=\"2\" }\t3e2\n# EOF\nafter 1\n";
        let s = parse(body).unwrap();
        assert_eq!(s.len(), 6, "{s:?}");
        assert_eq!(s[0].label("version"), Some("#1 SMP, a=b \"q\" \\ \n"));
        assert_eq!(s[0].to_string(), r##"node_uname_info{machine="x86_64",version="#1 SMP, a=b \"q\" \\ \n"}"##);
        assert!(s[1].value.is_nan());
        assert_eq!((s[2].value, s[3].value), (f64::INFINITY, f64::NEG_INFINITY));
        assert_eq!((s[4].name.as_str(), s[4].value, s[4].label("code")), ("http_requests_total", 1027.0, Some("200")));
        assert_eq!((s[5].labels.len(), s[5].value), (2, 300.0));
    }

    #[test]
    fn refuses_what_is_not_the_format_and_names_the_line() {
        for (body, reason) in [
            ("ok 1\nbad{a=1} 2", "expected `\"` after `a=`"),
            ("x{a=\"1} 2", "no closing quote"),
            ("x{a=\"1\"", "expected `,` or `}`"),
            ("x{a=\"1\",a=\"2\"} 1", "appears twice"),
            ("x 1 2 3", "unexpected `3` after the timestamp"),
            ("x 1 two", "unexpected `two` after the value"),
            ("x infinity", "is not a number"),
            ("x", "expected a space"),
            ("{\"my.metric\"} 1", "quoted metric name"),
            ("x{a=\"\\t\"} 1", "unknown escape"),
        ] {
            let e = parse(body).unwrap_err();
            assert!(e.reason.contains(reason), "{body:?}: {e}");
        }
        assert_eq!(parse("ok 1\nbad{a=1} 2").unwrap_err().line, 2);
        assert!(one("x 1").is_ok());
    }

    #[test]
    fn reads_every_series_node_exporter_serves() {
        // Captured once from Debian's node_exporter 1.5.0 on a test machine.
        let body = include_str!("../../../tests/fixtures/node_exporter-1.5.0.prom");
        let samples = body.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
        let series = parse(body).unwrap();
        assert_eq!(series.len(), samples);
        let uname = series.iter().find(|s| s.name == "node_uname_info").unwrap();
        assert_eq!(uname.label("sysname"), Some("Linux"));
        assert!(series.iter().any(|s| s.name == "node_filesystem_avail_bytes" && s.label("mountpoint") == Some("/")));
    }

    fn series() -> impl Strategy<Value = Series> {
        let name = "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}";
        let label = ("[a-zA-Z_][a-zA-Z0-9_]{0,12}", any::<String>());
        let value = prop_oneof![any::<f64>(), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN)];
        (name, proptest::collection::vec(label, 0..5), value).prop_map(|(name, labels, value)| {
            let mut seen = std::collections::BTreeSet::new();
            let labels = labels.into_iter().filter(|(n, _)| seen.insert(n.clone())).collect();
            Series { name, labels, value }
        })
    }

    /// A sample line as Go's client library writes it.
    fn render(s: &Series) -> String {
        let v = if s.value.is_nan() {
            "NaN".to_string()
        } else if s.value.is_infinite() {
            if s.value > 0.0 { "+Inf".into() } else { "-Inf".into() }
        } else {
            format!("{:e}", s.value)
        };
        format!("{s} {v}\n")
    }

    proptest! {
        #[test]
        fn reads_back_what_the_format_writes(all in proptest::collection::vec(series(), 1..20)) {
            let body: String = all.iter().map(render).collect();
            let read = parse(&body).unwrap();
            prop_assert_eq!(read.len(), all.len());
            for (r, s) in read.iter().zip(&all) {
                prop_assert_eq!(&r.name, &s.name);
                prop_assert_eq!(&r.labels, &s.labels);
                prop_assert!(r.value == s.value || (r.value.is_nan() && s.value.is_nan()));
            }
        }
    }

    /// The rendering above is what Prometheus itself accepts: `promtool check metrics` reads each
    /// generated body (skipped where promtool is not installed; the test command installs it).
    #[test]
    fn the_generated_bodies_are_valid_for_promtool() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        if Command::new("promtool").arg("--version").output().is_err() {
            eprintln!("promtool not installed: skipped");
            return;
        }
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..50 {
            let all = proptest::collection::vec(series(), 1..10).new_tree(&mut runner).unwrap().current();
            // promtool wants one family per name, each written once and typed.
            let mut body = String::new();
            let mut names = std::collections::BTreeSet::new();
            for s in all.iter().filter(|s| names.insert(s.name.clone())) {
                body.push_str(&format!("# HELP {} generated\n# TYPE {} untyped\n{}", s.name, s.name, render(s)));
            }
            let mut child = Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
            // Lint remarks (names, units) are not parse errors.
            assert!(!said.contains("error while linting") && !said.contains("parse error"), "{body}\n{said}");
            assert_eq!(parse(&body).unwrap().len(), names.len());
        }
    }
}
