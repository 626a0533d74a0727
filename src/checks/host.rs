//! The machine Opsline runs on ("environment detection"): free disk per mount (the fullest one is
//! what `[DISK_FREE_PERCENT]` sees), free memory and the one-minute load per core, read from
//! `/proc` and `statvfs`.

use crate::domain::check::conditions::Observation;

/// File systems that hold data; pseudo file systems would only add noise.
const SKIPPED: [&str; 14] = [
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "pstore",
    "debugfs",
    "tracefs",
    "mqueue",
    "hugetlbfs",
    "fusectl",
];

/// Every data mount and its free percentage.
pub fn mounts() -> Vec<(String, f64)> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mounts") else { return Vec::new() };
    let mut out: Vec<(String, f64)> = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(_dev), Some(mount), Some(fs)) = (f.next(), f.next(), f.next()) else { continue };
        if SKIPPED.contains(&fs) || fs.starts_with("fuse.") || out.iter().any(|(m, _)| m == mount) {
            continue;
        }
        // Octal escapes in /proc/self/mounts (a space is \040).
        let mount = mount.replace("\\040", " ");
        let Ok(st) = rustix::fs::statvfs(mount.as_str()) else { continue };
        if st.f_blocks == 0 {
            continue;
        }
        out.push((mount, st.f_bavail as f64 * 100.0 / st.f_blocks as f64));
    }
    out
}

fn meminfo_kb(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.trim().trim_end_matches("kB").trim().parse().ok())
}

pub fn observe() -> Observation {
    let disk_free = mounts().into_iter().min_by(|a, b| a.1.total_cmp(&b.1));
    let memory_free_percent = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let total = meminfo_kb(&t, "MemTotal:")?;
        let available = meminfo_kb(&t, "MemAvailable:")?;
        (total > 0.0).then(|| available * 100.0 / total)
    });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let load_per_core = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map(|l| l / cores);
    Observation { connected: true, disk_free, memory_free_percent, load_per_core, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_mount_and_memory_are_seen() {
        let o = observe();
        let (mount, free) = o.disk_free.unwrap();
        assert!(!mount.is_empty());
        assert!((0.0..=100.0).contains(&free));
        assert!(o.memory_free_percent.is_some_and(|m| m > 0.0 && m <= 100.0));
        assert!(o.load_per_core.is_some());
    }
}
