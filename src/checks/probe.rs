//! Running one probe: http (reqwest, a new connection each time, as blackbox_exporter does),
//! exporter (an http scrape read as Prometheus's text format), prometheus (a PromQL instant
//! query), tcp and tls (connect, handshake, optional send and expect), dns (one query to the
//! given server), postgres (connect and `SELECT 1`) and host (disk free per mount, memory, load).
//! Where a probe may go is `crate::outbound`'s to say: every target, every redirect hop, checked
//! against `checks.denied_networks` before any packet leaves, and connected to as checked.
//! A probe never fails with an error: whatever went wrong is part of its result.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::secret::scrub;
use super::spec::{CheckDef, CheckKind};
use super::{dns, host, promql, tls};
use crate::domain::check::conditions::{OBSERVED_MAX, Observation, Unmet, clip, first_unmet};
use crate::domain::check::exposition;
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

/// `checks.exporter_max_bytes` unless configured: node_exporter serves 100–300 KB.
pub const EXPORTER_MAX_BYTES: usize = 16 << 20;

/// An http check reads at most this much of a body.
const HTTP_BODY_MAX: usize = 1 << 20;

/// A body as read: at most the limit, and whether there was more.
struct Body {
    bytes: Vec<u8>,
    over: bool,
}

/// The probing machinery, built once at start.
pub struct Prober {
    http: reqwest::Client,
    tls: tokio_rustls::TlsConnector,
    outbound: Outbound,
    /// `checks.exporter_max_bytes`.
    exporter_max_bytes: usize,
}

impl Prober {
    /// Checks may reach anything but `denied`, following at most `max_redirects` redirects.
    pub fn new(denied: Vec<IpNet>, max_redirects: usize) -> Result<Self, String> {
        Self::with_outbound(Outbound::new(Rule::AllBut(denied)), max_redirects)
    }

    /// Exporter bodies past `bytes` are refused (`checks.exporter_max_bytes`).
    pub fn exporter_max_bytes(mut self, bytes: usize) -> Self {
        self.exporter_max_bytes = bytes;
        self
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
        Ok(Self { http, tls: tls::connector()?, outbound, exporter_max_bytes: EXPORTER_MAX_BYTES })
    }

    /// Runs the check once; `now` (unix seconds) is what certificate expiry counts from.
    /// Heartbeat checks are judged by the runner from their last beat.
    pub async fn run(&self, def: &CheckDef, now: i64) -> ProbeResult {
        let started = Instant::now();
        let timeout = Duration::from_millis(def.timeout_ms);
        let probe = async {
            match def.spec.kind {
                CheckKind::Http => self.http(def, timeout, now).await,
                CheckKind::Exporter => self.exporter(def, timeout, now).await,
                CheckKind::Prometheus => self.prometheus(def, timeout, now).await,
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
        // Bodies are read up to 1 MiB: enough for any health answer, bounded for a target that
        // streams forever.
        let url = def.spec.url.as_deref().unwrap_or_default();
        let (mut obs, error, body) = self.fetch(def, url, timeout, now, HTTP_BODY_MAX).await;
        if let Some(body) = body {
            obs.body = Some(String::from_utf8_lossy(&body.bytes).into_owned());
        }
        (obs, error)
    }

    /// Scrapes an exporter: its whole body, refused past `checks.exporter_max_bytes`, read as
    /// Prometheus's text format on a blocking thread.
    async fn exporter(&self, def: &CheckDef, timeout: Duration, now: i64) -> (Observation, Option<String>) {
        let url = def.spec.url.as_deref().unwrap_or_default();
        let (mut obs, error, body) = self.fetch(def, url, timeout, now, self.exporter_max_bytes).await;
        let Some(body) = body else { return (obs, error) };
        if body.over {
            let limit = self.exporter_max_bytes;
            return (obs, Some(format!("the body is larger than checks.exporter_max_bytes ({limit} bytes)")));
        }
        let refused = obs.status.filter(|s| *s >= 400).map(|s| format!("the exporter answered {s}"));
        if let Some(e) = error.or(refused) {
            return (obs, Some(e));
        }
        let parsed = tokio::task::spawn_blocking(move || {
            let text = String::from_utf8(body.bytes).map_err(|_| "the body is not UTF-8".to_string())?;
            exposition::parse(&text).map_err(|e| e.to_string())
        })
        .await;
        match parsed {
            Ok(Ok(series)) => {
                obs.series = series;
                (obs, None)
            }
            Ok(Err(e)) => (obs, Some(e)),
            Err(panicked) => (obs, Some(format!("reading the body failed: {panicked}"))),
        }
    }

    /// Runs the check's PromQL instant query against a Prometheus (`url` is its base, as
    /// `http://prometheus:9090`); the result's series, each named by its labels.
    async fn prometheus(&self, def: &CheckDef, timeout: Duration, now: i64) -> (Observation, Option<String>) {
        let base = def.spec.url.as_deref().unwrap_or_default().trim_end_matches('/');
        let query = def.spec.query.as_deref().unwrap_or_default();
        let Ok(url) = reqwest::Url::parse_with_params(&format!("{base}/api/v1/query"), [("query", query)]) else {
            return (Observation::default(), Some("not a URL".into()));
        };
        let (mut obs, error, body) = self.fetch(def, url.as_str(), timeout, now, HTTP_BODY_MAX).await;
        let Some(body) = body else { return (obs, error) };
        if body.over {
            return (obs, Some(format!("the answer is larger than {HTTP_BODY_MAX} bytes")));
        }
        match promql::series(&body.bytes) {
            Ok(series) if error.is_none() => {
                obs.series = series;
                (obs, None)
            }
            Ok(_) => (obs, error),
            Err(e) => (obs, Some(e)),
        }
    }

    /// One request as the check says (method, headers, body), through the outbound policy; the
    /// answer's status, address and certificate in the observation, and its body up to `limit`
    /// bytes (`over`: there was more).
    async fn fetch(
        &self,
        def: &CheckDef,
        url: &str,
        timeout: Duration,
        now: i64,
        limit: usize,
    ) -> (Observation, Option<String>, Option<Body>) {
        let mut obs = Observation::default();
        let url = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return (obs, Some(format!("not a URL: {e}")), None),
        };
        if let Err(refused) = self.outbound.check_url(&url) {
            return (obs, Some(refused.to_string()), None);
        }
        let method = reqwest::Method::from_bytes(def.spec.method.as_deref().unwrap_or("GET").as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, url).timeout(timeout);
        if def.spec.kind == CheckKind::Exporter && !def.spec.headers.keys().any(|k| k.eq_ignore_ascii_case("accept")) {
            // The text format, never protobuf.
            req = req.header("Accept", "text/plain;version=0.0.4;q=1.0,*/*;q=0.1");
        }
        for (k, v) in &def.spec.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &def.spec.body {
            req = req.body(b.clone());
        }
        let started = Instant::now();
        let mut r = match req.send().await {
            Ok(r) => r,
            Err(e) => return (obs, Some(crate::outbound::request_failure(e)), None),
        };
        obs.connected = true;
        obs.status = Some(r.status().as_u16());
        obs.ip = r.remote_addr().map(|a| a.ip().to_string());
        obs.certificate_expires_in_secs = r
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .and_then(|der| tls::earliest_expiry([&rustls::pki_types::CertificateDer::from(der)]))
            .map(|at| at - now);
        let mut body = Body { bytes: Vec::new(), over: false };
        let mut error = None;
        loop {
            match r.chunk().await {
                Ok(Some(c)) if body.bytes.len() + c.len() <= limit => body.bytes.extend_from_slice(&c),
                Ok(Some(c)) => {
                    body.bytes.extend_from_slice(&c[..limit - body.bytes.len()]);
                    body.over = true;
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("reading the body: {e}"));
                    break;
                }
            }
        }
        obs.response_time_ms = Some(started.elapsed().as_millis() as u64);
        (obs, error, Some(body))
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
        CheckKind::Http | CheckKind::Exporter | CheckKind::Prometheus => match o.status {
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
