//! Reading configuration: `default.toml`, then `<environment>.toml` (tables merge, arrays and
//! values replace), then `OPSLINE_SECTION__KEY` variables, last. The environment arrives as a map
//! so that tests never touch the process environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::{Problem, Problems, Settings};

/// Variables that steer loading itself and are not configuration keys.
const NOT_KEYS: [&str; 3] = ["OPSLINE_ENVIRONMENT", "OPSLINE_CONFIG_DIR", "OPSLINE_LOG"];

/// Where configuration comes from.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub dir: PathBuf,
    pub environment: String,
    pub env: BTreeMap<String, String>,
}

impl ConfigSource {
    /// From the process environment: `OPSLINE_CONFIG_DIR` (default `./config`),
    /// `OPSLINE_ENVIRONMENT` (default `development`) and every `OPSLINE_*` variable.
    pub fn from_env() -> Self {
        Self::from_map(std::env::vars().filter(|(k, _)| k.starts_with("OPSLINE_")).collect())
    }

    pub fn from_map(env: BTreeMap<String, String>) -> Self {
        Self {
            dir: env.get("OPSLINE_CONFIG_DIR").map_or_else(|| PathBuf::from("config"), PathBuf::from),
            environment: env.get("OPSLINE_ENVIRONMENT").cloned().unwrap_or_else(|| "development".into()),
            env,
        }
    }
}

/// Where each key of the merged tree was last set: a file, or an environment variable.
#[derive(Debug, Default)]
pub struct Origins(BTreeMap<String, String>);

impl Origins {
    fn file(&mut self, path: &Path, table: &Table) {
        let origin = path.display().to_string();
        let mut stack: Vec<(String, &Table)> = vec![(String::new(), table)];
        while let Some((prefix, t)) = stack.pop() {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if let Value::Table(inner) = v {
                    stack.push((key.clone(), inner));
                }
                self.0.insert(key, origin.clone());
            }
        }
    }

    /// Where `key` (or the nearest table above it) came from.
    fn of(&self, key: &str) -> Option<&str> {
        let mut k = key;
        loop {
            if let Some(o) = self.0.get(k) {
                return Some(o);
            }
            k = k.rsplit_once('.')?.0;
        }
    }
}

/// The merged TOML tree, before it is typed, and where its keys came from.
pub fn merged_table(source: &ConfigSource, problems: &mut Problems) -> Option<(Table, Origins)> {
    let default = source.dir.join("default.toml");
    if !default.exists() {
        problems.push(Problem::error(
            default.display().to_string(),
            format!(
                "not found: Opsline reads its configuration from {}; run it from the directory that holds \
                 config/ (the repository's root), or set OPSLINE_CONFIG_DIR to the directory holding default.toml",
                source.dir.display()
            ),
        ));
        return None;
    }
    let mut origins = Origins::default();
    let mut table = read_toml(&default, problems)?;
    origins.file(&default, &table);
    let overlay_path = source.dir.join(format!("{}.toml", source.environment));
    if !["development", "test", "production"].contains(&source.environment.as_str()) && !overlay_path.exists() {
        problems.push(Problem::error(
            "OPSLINE_ENVIRONMENT",
            format!(
                "`{}` is not an environment: use development, test or production, or add {}",
                source.environment,
                overlay_path.display()
            ),
        ));
    }
    if overlay_path.exists()
        && let Some(overlay) = read_toml(&overlay_path, problems)
    {
        origins.file(&overlay_path, &overlay);
        merge(&mut table, overlay);
    }
    for (name, value) in &source.env {
        if NOT_KEYS.contains(&name.as_str()) {
            continue;
        }
        if let Some(rest) = name.strip_prefix("OPSLINE_") {
            match apply_env(&mut table, rest, value) {
                Ok(key) => {
                    origins.0.insert(key, format!("the environment variable {name}"));
                }
                Err(message) => problems.push(Problem::error(name, message)),
            }
        }
    }
    Some((table, origins))
}

fn read_toml(path: &Path, problems: &mut Problems) -> Option<Table> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem::error(path.display().to_string(), format!("cannot read: {e}")));
            return None;
        }
    };
    match text.parse::<Table>() {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(Problem::error(path.display().to_string(), format!("not valid TOML: {}", e.message())));
            None
        }
    }
}

/// Tables merge key by key; everything else, arrays included, is replaced whole.
pub fn merge(base: &mut Table, overlay: Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// `HTTP__LISTEN` → `http.listen`. Each segment names an existing key case-insensitively, with `_`
/// standing for `-`; a segment that could name two keys is an error. Returns the key it set.
fn apply_env(table: &mut Table, rest: &str, raw: &str) -> Result<String, String> {
    let segments: Vec<&str> = rest.split("__").collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("empty key segment (use `__` between sections)".into());
    }
    let mut node = table;
    let mut path: Vec<String> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let wanted = seg.to_ascii_lowercase();
        let matches: Vec<String> =
            node.keys().filter(|k| k.to_ascii_lowercase().replace('-', "_") == wanted).cloned().collect();
        let key = match matches.len() {
            0 => wanted,
            1 => matches[0].clone(),
            _ => {
                return Err(format!("ambiguous: `{seg}` could mean any of {}", matches.join(", ")));
            }
        };
        path.push(key.clone());
        if i + 1 == segments.len() {
            let value = typed_value(node.get(&key), raw)?;
            node.insert(key, value);
            return Ok(path.join("."));
        }
        let entry = node.entry(key).or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        node = match entry {
            Value::Table(t) => t,
            _ => return Err("not a table".into()),
        };
    }
    Ok(path.join("."))
}

/// Parses an environment value as the type of the value it replaces.
fn typed_value(existing: Option<&Value>, raw: &str) -> Result<Value, String> {
    match existing {
        Some(Value::String(_)) => Ok(Value::String(raw.to_string())),
        Some(Value::Integer(_)) => {
            raw.trim().parse().map(Value::Integer).map_err(|_| format!("`{raw}` is not an integer"))
        }
        Some(Value::Float(_)) => raw.trim().parse().map(Value::Float).map_err(|_| format!("`{raw}` is not a number")),
        Some(Value::Boolean(_)) => match raw.trim() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("`{raw}` is not true or false")),
        },
        Some(Value::Array(_)) | Some(Value::Table(_)) => parse_inline(raw).ok_or_else(|| {
            format!("`{raw}` is not a TOML value of the same type (e.g. [\"a\", \"b\"] or {{ key = \"v\" }})")
        }),
        _ => Ok(match parse_inline(raw) {
            Some(Value::Datetime(_)) | None => Value::String(raw.to_string()),
            Some(v) => v,
        }),
    }
}

fn parse_inline(raw: &str) -> Option<Value> {
    format!("v = {raw}").parse::<Table>().ok()?.remove("v")
}

/// Types the merged tree, listing every unknown key — where it came from, and the known key one
/// edit away if there is one — and the first type error.
pub fn typed((table, origins): (Table, Origins), problems: &mut Problems) -> Option<Settings> {
    let siblings = |key: &str| -> Vec<String> {
        let parent = key.rsplit_once('.').map(|(p, _)| p);
        let mut node = &table;
        for seg in parent.into_iter().flat_map(|p| p.split('.')) {
            match node.get(seg) {
                Some(Value::Table(t)) => node = t,
                _ => return vec![],
            }
        }
        node.keys().cloned().collect()
    };
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(Value::Table(table.clone()), &mut record);
    let result: Result<Settings, _> = serde_path_to_error::deserialize(de);
    for key in unknown {
        let name = key.rsplit('.').next().unwrap_or(&key);
        let mut message = "unknown key".to_string();
        if let Some(origin) = origins.of(&key) {
            message.push_str(&format!(" (set in {origin})"));
        }
        // The merged tree holds every key `default.toml` documents beside the unknown one.
        if let Some(near) = siblings(&key).iter().find(|k| k.as_str() != name && one_edit(k, name)) {
            message.push_str(&format!("; did you mean `{near}`?"));
        }
        problems.push(Problem::error(key, message));
    }
    match result {
        Ok(s) => Some(s),
        Err(e) => {
            let path = e.path().to_string();
            problems.push(Problem::error(if path == "." { String::new() } else { path }, e.inner().to_string()));
            None
        }
    }
}

/// Whether `a` becomes `b` by one insertion, deletion, substitution or swap of neighbours.
fn one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[first..], &b[first..]);
    match ra.len().cmp(&rb.len()) {
        std::cmp::Ordering::Equal => {
            ra[1..] == rb[1..] || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> Table {
        s.parse().unwrap()
    }

    #[test]
    fn overlays_merge_tables_and_replace_arrays() {
        let mut base = table("[a]\nx = 1\nlist = [1, 2]\n[a.b]\ny = 2");
        merge(&mut base, table("[a]\nlist = [3]\n[a.b]\nz = 3"));
        assert_eq!(base["a"]["x"].as_integer(), Some(1));
        assert_eq!(base["a"]["list"].as_array().map(|a| a.len()), Some(1));
        assert_eq!(base["a"]["b"]["y"].as_integer(), Some(2));
        assert_eq!(base["a"]["b"]["z"].as_integer(), Some(3));
    }

    #[test]
    fn environment_keys_find_dashed_and_level_keys_and_keep_types() {
        let mut t = table(
            "[http]\nlisten = \"x\"\nmax = 5\n[calendars.night-desk]\ntimezone = \"UTC\"\n[p.standard.I]\nresponse = \"10m\"",
        );
        apply_env(&mut t, "HTTP__LISTEN", "0.0.0.0:9000").unwrap();
        apply_env(&mut t, "HTTP__MAX", "7").unwrap();
        apply_env(&mut t, "CALENDARS__NIGHT_DESK__TIMEZONE", "Asia/Tokyo").unwrap();
        apply_env(&mut t, "P__STANDARD__I__RESPONSE", "5m").unwrap();
        assert_eq!(t["http"]["listen"].as_str(), Some("0.0.0.0:9000"));
        assert_eq!(t["http"]["max"].as_integer(), Some(7));
        assert_eq!(t["calendars"]["night-desk"]["timezone"].as_str(), Some("Asia/Tokyo"));
        assert_eq!(t["p"]["standard"]["I"]["response"].as_str(), Some("5m"));
        assert!(apply_env(&mut t, "HTTP__MAX", "many").is_err());
    }

    #[test]
    fn one_edit_finds_typos_and_swaps_only() {
        assert!(one_edit("listen", "listn"));
        assert!(one_edit("listen", "lsiten"));
        assert!(one_edit("listen", "listens"));
        assert!(one_edit("listen", "listed"));
        assert!(!one_edit("listen", "lstn"));
        assert!(!one_edit("listen", "listen"));
    }

    #[test]
    fn an_unknown_key_says_where_it_was_set_and_what_was_meant() {
        let mut env = BTreeMap::new();
        env.insert("OPSLINE_HTTP__LISTN".to_string(), "0.0.0.0:9000".to_string());
        env.insert("OPSLINE_CONFIG_DIR".to_string(), concat!(env!("CARGO_MANIFEST_DIR"), "/config").to_string());
        let source = ConfigSource::from_map(env);
        let mut problems = Problems::default();
        let merged = merged_table(&source, &mut problems).unwrap();
        assert!(typed(merged, &mut problems).is_none() || problems.has_errors());
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let typo = text.iter().find(|p| p.contains("http.listn")).unwrap_or_else(|| panic!("{text:?}"));
        assert!(typo.contains("environment variable OPSLINE_HTTP__LISTN"), "{typo}");
        assert!(typo.contains("did you mean `listen`"), "{typo}");
    }

    #[test]
    fn a_missing_configuration_directory_names_opsline_config_dir() {
        let mut env = BTreeMap::new();
        env.insert("OPSLINE_CONFIG_DIR".to_string(), "/nonexistent/opsline-config".to_string());
        let mut problems = Problems::default();
        assert!(merged_table(&ConfigSource::from_map(env), &mut problems).is_none());
        let text = problems.iter().map(|p| p.to_string()).collect::<String>();
        assert!(text.contains("OPSLINE_CONFIG_DIR") && text.contains("default.toml"), "{text}");
    }

    #[test]
    fn an_environment_key_that_could_name_two_keys_is_an_error() {
        let mut t = table("[teams.a-b]\nx = 1\n[teams.a_b]\nx = 2");
        assert!(apply_env(&mut t, "TEAMS__A_B__X", "3").unwrap_err().contains("ambiguous"));
    }
}
