//! A host's facts, read off what its exporter serves: node_exporter (Linux) or windows_exporter.
//! What an engineer preparing an upgrade asks first — which OS and kernel, how many cores, how
//! much memory, which mounts with how much room, which exporter — kept per check as the
//! inventory (`GET /api/v1/hosts`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::exposition::Series;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostFacts {
    /// `linux` or `windows`.
    pub os_family: Option<String>,
    /// As the OS names itself: `Debian GNU/Linux 12 (bookworm)`, `Microsoft Windows Server 2019 …`.
    pub os: Option<String>,
    /// The kernel release (Linux) or OS version (Windows).
    pub kernel: Option<String>,
    pub hostname: Option<String>,
    pub architecture: Option<String>,
    pub cpus: Option<u32>,
    pub memory_bytes: Option<f64>,
    pub mounts: Vec<Mount>,
    /// The exporter and its version: `node_exporter 1.5.0`.
    pub exporter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Mount {
    pub mountpoint: String,
    pub fstype: Option<String>,
    pub size_bytes: f64,
    pub avail_bytes: Option<f64>,
}

/// File systems that are not disks.
const VIRTUAL_FS: [&str; 9] = ["tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup2", "nsfs", "ramfs"];

fn first<'a>(series: &'a [Series], name: &str) -> Option<&'a Series> {
    series.iter().find(|s| s.name == name)
}

fn label(series: &[Series], name: &str, label: &str) -> Option<String> {
    first(series, name).and_then(|s| s.label(label)).filter(|v| !v.is_empty()).map(str::to_string)
}

/// The facts in `series`; `None` when it is neither exporter's.
pub fn read(series: &[Series]) -> Option<HostFacts> {
    if first(series, "node_uname_info").is_some() || first(series, "node_exporter_build_info").is_some() {
        Some(node(series))
    } else if series.iter().any(|s| s.name.starts_with("windows_")) {
        Some(windows(series))
    } else {
        None
    }
}

fn node(series: &[Series]) -> HostFacts {
    let mut cpus: Vec<&str> = series
        .iter()
        .filter(|s| s.name == "node_cpu_seconds_total" && s.label("mode") == Some("idle"))
        .filter_map(|s| s.label("cpu"))
        .collect();
    cpus.sort_unstable();
    cpus.dedup();
    let mounts = series
        .iter()
        .filter(|s| s.name == "node_filesystem_size_bytes")
        .filter(|s| !s.label("fstype").is_some_and(|f| VIRTUAL_FS.contains(&f)))
        .filter_map(|s| {
            let avail = series
                .iter()
                .find(|a| a.name == "node_filesystem_avail_bytes" && a.labels == s.labels)
                .map(|a| a.value);
            Some(Mount {
                mountpoint: s.label("mountpoint")?.to_string(),
                fstype: s.label("fstype").map(str::to_string),
                size_bytes: s.value,
                avail_bytes: avail,
            })
        })
        .collect();
    HostFacts {
        os_family: label(series, "node_uname_info", "sysname").map(|s| s.to_lowercase()),
        os: label(series, "node_os_info", "pretty_name").or_else(|| label(series, "node_os_info", "name")),
        kernel: label(series, "node_uname_info", "release"),
        hostname: label(series, "node_uname_info", "nodename"),
        architecture: label(series, "node_uname_info", "machine"),
        cpus: (!cpus.is_empty()).then_some(cpus.len() as u32),
        memory_bytes: first(series, "node_memory_MemTotal_bytes").map(|s| s.value),
        mounts,
        exporter: label(series, "node_exporter_build_info", "version").map(|v| format!("node_exporter {v}")),
    }
}

fn windows(series: &[Series]) -> HostFacts {
    let mounts = series
        .iter()
        .filter(|s| s.name == "windows_logical_disk_size_bytes")
        .filter_map(|s| {
            let volume = s.label("volume")?;
            let avail = series
                .iter()
                .find(|a| a.name == "windows_logical_disk_free_bytes" && a.label("volume") == Some(volume))
                .map(|a| a.value);
            Some(Mount { mountpoint: volume.to_string(), fstype: None, size_bytes: s.value, avail_bytes: avail })
        })
        .collect();
    HostFacts {
        os_family: Some("windows".into()),
        os: label(series, "windows_os_info", "product"),
        kernel: label(series, "windows_os_info", "version"),
        hostname: label(series, "windows_cs_hostname", "hostname"),
        architecture: None,
        cpus: first(series, "windows_cs_logical_processors").map(|s| s.value as u32),
        memory_bytes: first(series, "windows_cs_physical_memory_bytes").map(|s| s.value),
        mounts,
        exporter: label(series, "windows_exporter_build_info", "version").map(|v| format!("windows_exporter {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::check::exposition::parse;

    #[test]
    fn node_exporters_body_gives_the_hosts_facts() {
        let body = include_str!("../../../tests/fixtures/node_exporter-1.5.0.prom");
        let f = read(&parse(body).unwrap()).unwrap();
        assert_eq!(f.os_family.as_deref(), Some("linux"));
        assert_eq!(f.os.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(f.exporter.as_deref(), Some("node_exporter 1.5.0"));
        assert_eq!(f.architecture.as_deref(), Some("x86_64"));
        assert!(f.kernel.is_some() && f.cpus.is_some_and(|c| c >= 1) && f.memory_bytes.is_some_and(|m| m > 1e8));
        let root = f.mounts.iter().find(|m| m.mountpoint == "/").unwrap();
        assert!(root.avail_bytes.is_some_and(|a| a <= root.size_bytes), "{root:?}");
        assert!(f.mounts.iter().all(|m| m.fstype.as_deref() != Some("tmpfs")));
    }

    #[test]
    fn windows_exporters_series_are_read_by_their_names() {
        let body = "windows_os_info{product=\"Microsoft Windows Server 2019 Standard\",version=\"10.0.17763\"} 1\n\
            windows_cs_logical_processors 8\nwindows_cs_physical_memory_bytes 3.4e+10\n\
            windows_cs_hostname{domain=\"corp\",fqdn=\"app1.corp\",hostname=\"APP1\"} 1\n\
            windows_logical_disk_size_bytes{volume=\"C:\"} 1e+11\nwindows_logical_disk_free_bytes{volume=\"C:\"} 4e+10\n";
        let f = read(&parse(body).unwrap()).unwrap();
        assert_eq!((f.os_family.as_deref(), f.cpus, f.hostname.as_deref()), (Some("windows"), Some(8), Some("APP1")));
        assert_eq!(
            f.mounts,
            [Mount { mountpoint: "C:".into(), fstype: None, size_bytes: 1e11, avail_bytes: Some(4e10) }]
        );
        assert!(read(&parse("up 1\n").unwrap()).is_none());
    }
}
