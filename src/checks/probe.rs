//! Running one probe: http (reqwest, a new connection each time, as blackbox_exporter does), tcp
//! and tls (connect, handshake, optional send and expect), dns (one query to the given server),
//! postgres (connect and `SELECT 1`) and host (disk free per mount, memory, load). Where a probe
//! may go is `crate::outbound`'s to say: every target, every redirect hop, checked against
//! `checks.denied_networks` before any packet leaves, and connected to as checked.
//! A probe never fails with an error: whatever went wrong is part of its result.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::secret::scrub;
use super::spec::{CheckDef, CheckKind};
use super::{dns, host, tls};
use crate::domain::check::conditions::{OBSERVED_MAX, Observation, Unmet, clip, first_unmet};
use crate::domain::check::health::Verdict;
use crate::outbound::{Outbound, Rule};

/// What one run of a check found.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub verdict: Verdict,
    pub duration_ms: u64,
    pub unmet: Option<Unmet>,
    pub error: Option<String>,
    pub observation: Observation,
}

/// The probing machinery, built once at start.
pub struct Prober {
    http: reqwest::Client,
    tls: tokio_rustls::TlsConnector,
    outbound: Outbound,
}

impl Prober {
    /// Checks may reach anything but `denied`, following at most `max_redirects` redirects.
    pub fn new(denied: Vec<IpNet>, max_redirects: usize) -> Result<Self, String> {
        Self::with_outbound(Outbound::new(Rule::AllBut(denied)), max_redirects)
    }

    pub fn with_outbound(outbound: Outbound, max_redirects: usize) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .dns_resolver(outbound.resolver())
            // A new connection per probe: a pooled one would hide a server that stopped accepting.
            .pool_max_idle_per_host(0)
            .redirect(outbound.redirects(max_redirects))
            .user_agent(concat!("opsline-check/", env!("CARGO_PKG_VERSION")))
            .tls_info(true)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http, tls: tls::connector()?, outbound })
    }

    /// Runs the check once; `now` (unix seconds) is what certificate expiry counts from.
    /// Heartbeat checks are judged by the runner from their last beat.
    pub async fn run(&self, def: &CheckDef, now: i64) -> ProbeResult {
        let started = Instant::now();
        let timeout = Duration::from_millis(def.timeout_ms);
        let probe = async {
            match def.spec.kind {
                CheckKind::Http => self.http(def, timeout, now).await,
                CheckKind::Tcp | CheckKind::Tls => self.tcp(def, timeout, now).await,
                CheckKind::Postgres => self.postgres(def, timeout).await,
                CheckKind::Host => (host::observe(), None),
                CheckKind::Dns => self.dns(def, timeout).await,
                CheckKind::Heartbeat => (Observation { connected: true, ..Default::default() }, None),
            }
        };
        // Each stage has the timeout; the whole probe has it too (resolve + connect + handshake
        // + answer must not add up to more).
        let (mut obs, error) = match tokio::time::timeout(timeout, probe).await {
            Ok(done) => done,
            Err(_) => (Observation::default(), Some(format!("timed out after {} ms", def.timeout_ms))),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        obs.response_time_ms.get_or_insert(duration_ms);
        // Conditions read bodies of up to 1 MiB: judged on a blocking thread, within what is left
        // of the timeout.
        let left = timeout.saturating_sub(started.elapsed());
        let (kind, conditions) = (def.spec.kind, def.conditions.clone());
        let judging = tokio::task::spawn_blocking(move || {
            let unmet = if conditions.is_empty() { default_unmet(kind, &obs) } else { first_unmet(&conditions, &obs) };
            (unmet, obs)
        });
        let (unmet, obs, error) = match tokio::time::timeout(left, judging).await {
            Ok(Ok((unmet, obs))) => (unmet, obs, error),
            Ok(Err(panicked)) => {
                (None, Observation::default(), Some(format!("judging the conditions failed: {panicked}")))
            }
            // A probe that already failed (it timed out, say) keeps its own error.
            Err(_) => (
                None,
                Observation::default(),
                Some(error.unwrap_or_else(|| {
                    format!("the conditions were not judged within timeout_ms ({} ms)", def.timeout_ms)
                })),
            ),
        };
        let verdict = if unmet.is_none() && error.is_none() { Verdict::Pass } else { Verdict::Fail };
        // Whatever leaves the probe has the check's secrets replaced by `***`.
        let secrets = def.spec.secrets();
        let unmet = unmet.map(|u| Unmet { observed: scrub(&u.observed, &secrets), ..u });
        let error = error.map(|e| clip(scrub(&e, &secrets), OBSERVED_MAX));
        ProbeResult { verdict, duration_ms, unmet, error, observation: obs }
    }

    async fn http(&self, def: &CheckDef, timeout: Duration, now: i64) -> (Observation, Option<String>) {
        let mut obs = Observation::default();
        let Some(url) = def.spec.url.as_deref() else { return (obs, Some("no url".into())) };
        let url = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return (obs, Some(format!("not a URL: {e}"))),
        };
        if let Err(refused) = self.outbound.check_url(&url) {
            return (obs, Some(refused.to_string()));
        }
        let method = reqwest::Method::from_bytes(def.spec.method.as_deref().unwrap_or("GET").as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, url).timeout(timeout);
        for (k, v) in &def.spec.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &def.spec.body {
            req = req.body(b.clone());
        }
        let started = Instant::now();
        match req.send().await {
            Ok(r) => {
                obs.connected = true;
                obs.status = Some(r.status().as_u16());
                obs.ip = r.remote_addr().map(|a| a.ip().to_string());
                obs.certificate_expires_in_secs = r
                    .extensions()
                    .get::<reqwest::tls::TlsInfo>()
                    .and_then(|i| i.peer_certificate())
                    .and_then(|der| tls::earliest_expiry([&rustls::pki_types::CertificateDer::from(der)]))
                    .map(|at| at - now);
                // Bodies are read up to 1 MiB: enough for any health answer, bounded for a
                // target that streams forever.
                let mut body = Vec::new();
                let mut r = r;
                let mut error = None;
                loop {
                    match r.chunk().await {
                        Ok(Some(c)) if body.len() < 1 << 20 => body.extend_from_slice(&c),
                        Ok(_) => break,
                        Err(e) => {
                            error = Some(format!("reading the body: {e}"));
                            break;
                        }
                    }
                }
                obs.response_time_ms = Some(started.elapsed().as_millis() as u64);
                obs.body = Some(String::from_utf8_lossy(&body).into_owned());
                (obs, error)
            }
            Err(e) => (obs, Some(crate::outbound::request_failure(e))),
        }
    }

    async fn tcp(&self, def: &CheckDef, timeout: Duration, now: i64) -> (Observation, Option<String>) {
        let mut obs = Observation::default();
        let (Some(host), Some(port)) = (def.spec.host.as_deref(), def.spec.port) else {
            return (obs, Some("host and port are required".into()));
        };
        let addr = match tokio::time::timeout(timeout, self.outbound.resolve(host, port)).await {
            Ok(Ok(a)) => a[0],
            Ok(Err(refused)) => return (obs, Some(refused.to_string())),
            Err(_) => return (obs, Some(format!("resolving {host} timed out"))),
        };
        let started = Instant::now();
        let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return (obs, Some(format!("could not connect to {addr}: {e}"))),
            Err(_) => return (obs, Some(format!("connecting to {addr} timed out"))),
        };
        obs.ip = Some(addr.ip().to_string());
        if def.spec.kind != CheckKind::Tls {
            obs.connected = true;
            obs.response_time_ms = Some(started.elapsed().as_millis() as u64);
            let error = exchange(stream, def, timeout, &mut obs).await;
            return (obs, error);
        }
        let name = match tls::server_name(host) {
            Ok(n) => n,
            Err(e) => return (obs, Some(e)),
        };
        let stream = match tokio::time::timeout(timeout, self.tls.connect(name, stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return (obs, Some(format!("TLS handshake with {addr} failed: {e}"))),
            Err(_) => return (obs, Some(format!("TLS handshake with {addr} timed out"))),
        };
        obs.connected = true;
        obs.response_time_ms = Some(started.elapsed().as_millis() as u64);
        obs.certificate_expires_in_secs =
            stream.get_ref().1.peer_certificates().and_then(tls::earliest_expiry).map(|at| at - now);
        let error = exchange(stream, def, timeout, &mut obs).await;
        (obs, error)
    }

    async fn dns(&self, def: &CheckDef, timeout: Duration) -> (Observation, Option<String>) {
        let mut obs = Observation::default();
        let Some(server) = def.spec.server.as_deref().and_then(|s| s.parse::<SocketAddr>().ok()) else {
            return (obs, Some("no server".into()));
        };
        let server = match self.outbound.permits(server.ip()) {
            Ok(ip) => SocketAddr::new(ip, server.port()),
            Err(refused) => return (obs, Some(refused.to_string())),
        };
        let name = def.spec.query_name.as_deref().unwrap_or_default();
        let record_type = def.spec.record_type.as_deref().unwrap_or("A").to_ascii_uppercase();
        match dns::resolve(server, name, &record_type, timeout).await {
            Ok((rcode, records)) => {
                obs.connected = true;
                obs.dns_rcode = Some(rcode);
                obs.ip = records.first().filter(|r| r.parse::<IpAddr>().is_ok()).cloned();
                obs.body = Some(records.join(", "));
                (obs, None)
            }
            Err(e) => (obs, Some(e)),
        }
    }

    /// Connects to the address the policy checked (the URL's host replaced by it) and runs
    /// `SELECT 1`.
    async fn postgres(&self, def: &CheckDef, timeout: Duration) -> (Observation, Option<String>) {
        let mut obs = Observation::default();
        let Some(url) = def.spec.url.as_deref() else { return (obs, Some("no url".into())) };
        let Ok(mut parsed) = reqwest::Url::parse(url) else { return (obs, Some("not a URL".into())) };
        let host = parsed.host_str().unwrap_or_default().to_string();
        let port = parsed.port().unwrap_or(5432);
        let addr = match tokio::time::timeout(timeout, self.outbound.resolve(&host, port)).await {
            Ok(Ok(a)) => a[0],
            Ok(Err(refused)) => return (obs, Some(refused.to_string())),
            Err(_) => return (obs, Some(format!("resolving {host} timed out"))),
        };
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        if parsed.set_host(Some(&ip)).is_err() {
            return (obs, Some("postgres: the URL's host cannot be replaced".into()));
        }
        obs.ip = Some(addr.ip().to_string());
        let mut opts = sea_orm::ConnectOptions::new(parsed.to_string());
        opts.max_connections(1)
            .min_connections(0)
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            .sqlx_logging(false);
        let started = Instant::now();
        let result = tokio::time::timeout(timeout, async {
            let db = sea_orm::Database::connect(opts).await?;
            let r = sea_orm::ConnectionTrait::execute_unprepared(&db, "SELECT 1").await.map(|_| ());
            let _ = db.close().await;
            r
        })
        .await;
        obs.response_time_ms = Some(started.elapsed().as_millis() as u64);
        match result {
            Ok(Ok(())) => {
                obs.connected = true;
                (obs, None)
            }
            // The driver's message may quote the URL; only its kind is kept.
            Ok(Err(e)) => (obs, Some(format!("postgres: {}", redact(&redact(&e.to_string(), url), parsed.as_str())))),
            Err(_) => (obs, Some("postgres: timed out".into())),
        }
    }
}

/// After connecting: send `send`, then read until `expect` appears.
async fn exchange<S>(mut stream: S, def: &CheckDef, timeout: Duration, obs: &mut Observation) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Some(send) = &def.spec.send
        && let Err(e) = stream.write_all(send.as_bytes()).await
    {
        return Some(format!("sending: {e}"));
    }
    let expect = def.spec.expect.as_ref()?;
    let mut got = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&got).contains(expect.as_str()) {
                        return true;
                    }
                    if got.len() > 64 * 1024 {
                        return false;
                    }
                }
            }
        }
    })
    .await;
    obs.body = Some(String::from_utf8_lossy(&got).into_owned());
    (read != Ok(true)).then(|| format!("the answer did not contain `{expect}`"))
}

fn redact(msg: &str, secret_url: &str) -> String {
    msg.replace(secret_url, "(url)").chars().take(300).collect()
}

/// Without conditions: http wants a status below 400; tcp, tls and postgres a connection.
fn default_unmet(kind: CheckKind, o: &Observation) -> Option<Unmet> {
    match kind {
        CheckKind::Http => match o.status {
            Some(s) if s < 400 => None,
            s => Some(Unmet {
                condition: "[STATUS] < 400".into(),
                observed: s.map_or("(none)".into(), |s| s.to_string()),
            }),
        },
        CheckKind::Tcp | CheckKind::Tls | CheckKind::Postgres if !o.connected => {
            Some(Unmet { condition: "[CONNECTED] == true".into(), observed: "false".into() })
        }
        CheckKind::Dns if o.dns_rcode.as_deref() != Some("NOERROR") => Some(Unmet {
            condition: "[DNS_RCODE] == NOERROR".into(),
            observed: o.dns_rcode.clone().unwrap_or_else(|| "(none)".into()),
        }),
        _ => None,
    }
}
