//! Where Opsline connects on someone's behalf: every spelling of a denied address is refused
//! before a packet leaves, for http (and each redirect hop), tcp, dns and postgres checks and for
//! webhooks; a name that answers differently the second time cannot switch a probe to a denied
//! address. Listeners on loopback addresses count every connection they get, so "refused" means
//! nothing arrived.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use opsline::checks::probe::Prober;
use opsline::checks::spec::CheckSpec;
use opsline::config::escalation::Endpoint;
use opsline::config::secret::Secret;
use opsline::notify::webhook::WebhookClient;
use opsline::outbound::{Lookup, Outbound, Rule};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Options, TestApp, eventually, spawn_with};

/// What a listener answers on a path: status, `Location`, body.
type Answers = HashMap<String, (u16, String, String)>;

/// An HTTP listener on one address that counts connections and answers each path as told
/// (status, `Location`, body); unknown paths get 200 "ok".
#[derive(Clone)]
pub struct Listener {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    answers: Arc<Mutex<Answers>>,
    last: Arc<Mutex<String>>,
}

impl Listener {
    pub async fn on(ip: &str) -> Listener {
        Self::on_port(ip, 0).await
    }

    pub async fn on_port(ip: &str, port: u16) -> Listener {
        let socket = tokio::net::TcpListener::bind((ip.parse::<IpAddr>().unwrap(), port)).await.unwrap();
        let l = Listener {
            addr: socket.local_addr().unwrap(),
            connections: Arc::default(),
            answers: Arc::default(),
            last: Arc::default(),
        };
        let me = l.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = socket.accept().await {
                me.connections.fetch_add(1, Ordering::SeqCst);
                let (answers, last) = (me.answers.clone(), me.last.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    last.lock().unwrap().clone_from(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (status, location, body) =
                        answers.lock().unwrap().get(&path).cloned().unwrap_or((200, String::new(), "ok".into()));
                    let location =
                        if location.is_empty() { String::new() } else { format!("location: {location}\r\n") };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\n{location}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        l
    }

    pub fn answer(&self, path: &str, status: u16, location: &str, body: &str) {
        self.answers.lock().unwrap().insert(path.into(), (status, location.into(), body.into()));
    }

    /// The last request's head, as received.
    pub fn last_request(&self) -> String {
        self.last.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn denying(networks: &[&str]) -> Options {
    let list = serde_json::to_string(networks).unwrap();
    Options { env: vec![("OPSLINE_CHECKS__DENIED_NETWORKS".into(), list)], ..Default::default() }
}

/// Creates the check and runs it once; its stored result.
pub async fn run_check(app: &TestApp, spec: Value) -> Value {
    let r = app.post("/api/v1/checks", &app.admin, spec.clone()).await;
    assert_eq!(r.status, 201, "{spec}: {}", r.body);
    let r = app.post(&format!("/api/v1/checks/{}/run", r.body["id"]), &app.admin, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

pub fn error_of(result: &Value) -> String {
    result["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn every_spelling_of_a_denied_address_is_refused_before_a_packet_leaves() {
    let app = spawn_with(denying(&["127.0.0.0/8", "::1/128"])).await;
    let target = Listener::on("127.0.0.1").await;
    let p = target.port();
    let spellings = [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "017700000001",
        "127.000.000.001",
        "127.0.0.1.",
        "%31%32%37.0.0.1",
        "１２７.０.０.１",
        "0.0.0.0",
        "[::1]",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "localhost",
        "LocalHost",
    ];
    for (i, host) in spellings.iter().enumerate() {
        let spec = json!({"name": format!("spelling-{i}"), "kind": "http", "url": format!("http://{host}:{p}/"), "interval": "1m"});
        let result = run_check(&app, spec).await;
        assert!(error_of(&result).contains("checks.denied_networks"), "{host}: {result}");
    }
    assert_eq!(target.connections(), 0, "a denied spelling reached the listener");
    // The same listener, reached by an address the policy allows, answers: the refusals above
    // were the policy, not a dead listener.
    let open = spawn_with(denying(&["169.254.0.0/16"])).await;
    let ok = run_check(
        &open,
        json!({"name": "allowed", "kind": "http", "url": format!("http://127.1:{p}/"), "interval": "1m"}),
    )
    .await;
    assert_eq!(error_of(&ok), "", "{ok}");
    assert_eq!(target.connections(), 1);
}

#[tokio::test]
async fn each_redirect_hop_is_checked_and_the_denied_body_is_never_stored() {
    let app = spawn_with(denying(&["127.0.0.2/32"])).await;
    let allowed = Listener::on("127.0.0.1").await;
    let denied = Listener::on("127.0.0.2").await;
    denied.answer("/secret", 200, "", "the metadata service's secret");
    let (a, d) = (allowed.port(), denied.port());
    allowed.answer("/a", 302, "/b", "");
    allowed.answer("/b", 302, &format!("http://127.0.0.2:{d}/secret"), "");
    allowed.answer("/mapped", 301, &format!("http://[::ffff:127.0.0.2]:{d}/secret"), "");
    allowed.answer("/decimal", 307, &format!("http://2130706434:{d}/secret"), "");
    allowed.answer("/loop", 302, "/loop", "");
    for (i, path) in ["/a", "/mapped", "/decimal"].iter().enumerate() {
        let spec = json!({"name": format!("hop-{i}"), "kind": "http", "url": format!("http://127.0.0.1:{a}{path}"),
                          "interval": "1m", "conditions": ["[BODY] == pat(*ok*)"]});
        let result = run_check(&app, spec).await;
        assert!(error_of(&result).contains("checks.denied_networks"), "{path}: {result}");
        assert!(!result.to_string().contains("secret"), "{result}");
    }
    assert_eq!(denied.connections(), 0);
    let looped = run_check(
        &app,
        json!({"name": "loop", "kind": "http", "url": format!("http://127.0.0.1:{a}/loop"), "interval": "1m"}),
    )
    .await;
    assert!(error_of(&looped).contains("more than 5 redirects"), "{looped}");
}

/// A UDP socket that counts the datagrams it receives.
async fn udp_counter(ip: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = tokio::net::UdpSocket::bind((ip.parse::<IpAddr>().unwrap(), 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while socket.recv_from(&mut buf).await.is_ok() {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn tcp_dns_and_postgres_checks_to_a_denied_address_connect_nowhere() {
    let app = spawn_with(denying(&["127.0.0.2/32"])).await;
    let denied = Listener::on("127.0.0.2").await;
    let allowed = Listener::on("127.0.0.1").await;
    let (dns, datagrams) = udp_counter("127.0.0.2").await;
    let d = denied.port();
    let refused = [
        json!({"kind": "tcp", "host": "127.0.0.2", "port": d}),
        json!({"kind": "tcp", "host": "::ffff:127.0.0.2", "port": d}),
        json!({"kind": "tls", "host": "[::ffff:7f00:2]", "port": d}),
        json!({"kind": "dns", "server": format!("[::ffff:127.0.0.2]:{}", dns.port()), "query_name": "example.com"}),
        json!({"kind": "dns", "server": format!("127.0.0.2:{}", dns.port()), "query_name": "example.com"}),
        json!({"kind": "postgres", "url": format!("postgres://ops:pw@[::ffff:127.0.0.2]:{d}/db")}),
        json!({"kind": "postgres", "url": format!("postgres://ops:pw@2130706434:{d}/db")}),
    ];
    for (i, mut spec) in refused.into_iter().enumerate() {
        spec["name"] = json!(format!("probe-{i}"));
        spec["interval"] = json!("1m");
        let result = run_check(&app, spec.clone()).await;
        assert!(error_of(&result).contains("checks.denied_networks"), "{spec}: {result}");
    }
    assert_eq!((denied.connections(), datagrams.load(Ordering::SeqCst)), (0, 0));
    // The tcp probe does connect where it may.
    let ok = run_check(
        &app,
        json!({"name": "tcp-ok", "kind": "tcp", "host": "127.0.0.1", "port": allowed.port(), "interval": "1m"}),
    )
    .await;
    assert_eq!(error_of(&ok), "", "{ok}");
    eventually("the allowed connection counted", std::time::Duration::from_secs(5), || async {
        (allowed.connections() == 1).then_some(())
    })
    .await;
}

fn endpoint(url: String) -> Endpoint {
    Endpoint { name: "ops".into(), url, secret: Secret::new("whsec-0123456789abcdef"), timeout_ms: 2000 }
}

#[tokio::test]
async fn webhooks_reach_no_spelling_of_loopback_and_follow_no_redirect_by_default() {
    let target = Listener::on("127.0.0.1").await;
    let p = target.port();
    let client = WebhookClient::new(vec![], 0).unwrap();
    for host in
        ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "0.0.0.0", "localhost"]
    {
        let a = client.send(&endpoint(format!("http://{host}:{p}/hook")), "msg_1", 1_700_000_000, b"{}").await;
        let error = a.error.unwrap_or_default();
        assert!(error.contains("webhooks.allowed_networks"), "{host}: {error}");
    }
    assert_eq!(target.connections(), 0);
    // Allowed, it is reached; a redirect it answers is not followed (max_redirects = 0), nor,
    // with redirects allowed, one to an address outside allowed_networks.
    let other = Listener::on("127.0.0.2").await;
    target.answer("/moved", 302, &format!("http://127.0.0.2:{}/hook", other.port()), "");
    let allowed = vec!["127.0.0.1/32".parse().unwrap()];
    let none = WebhookClient::new(allowed.clone(), 0).unwrap();
    let a = none.send(&endpoint(format!("http://127.0.0.1:{p}/moved")), "msg_2", 1_700_000_000, b"{}").await;
    assert_eq!(a.http_status, Some(302), "{:?}", a.error);
    let one = WebhookClient::new(allowed, 1).unwrap();
    let a = one.send(&endpoint(format!("http://127.0.0.1:{p}/moved")), "msg_3", 1_700_000_000, b"{}").await;
    assert!(a.error.unwrap_or_default().contains("webhooks.allowed_networks"));
    assert_eq!((target.connections(), other.connections()), (2, 0));
}

/// Answers the first lookup with `first`, every later one with `then`.
struct Rebinding {
    first: SocketAddr,
    then: SocketAddr,
    asked: AtomicUsize,
}

impl Lookup for Rebinding {
    fn lookup(
        &self,
        _host: &str,
        port: u16,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> {
        let n = self.asked.fetch_add(1, Ordering::SeqCst);
        let ip = if n == 0 { self.first.ip() } else { self.then.ip() };
        Box::pin(async move { Ok(vec![SocketAddr::new(ip, port)]) })
    }
}

#[tokio::test]
async fn a_name_that_rebinds_to_a_denied_address_is_never_connected_to() {
    // The same port on both: a probe that connected to the second answer would reach `denied`.
    let allowed = Listener::on("127.0.0.1").await;
    let denied = Listener::on_port("127.0.0.2", allowed.port()).await;
    for kind in ["http", "tcp"] {
        let lookup = Arc::new(Rebinding { first: allowed.addr, then: denied.addr, asked: AtomicUsize::new(0) });
        let outbound = Outbound::with_lookup(Rule::AllBut(vec!["127.0.0.2/32".parse().unwrap()]), lookup.clone());
        let prober = Prober::with_outbound(outbound, 5).unwrap();
        // The allowed listener's port: a rebinding name keeps the port it was given.
        let spec: CheckSpec = serde_json::from_value(match kind {
            "http" => {
                json!({"kind": "http", "url": format!("http://rebind.test:{}/", allowed.port()), "interval": "1m"})
            }
            _ => json!({"kind": "tcp", "host": "rebind.test", "port": allowed.port(), "interval": "1m"}),
        })
        .unwrap();
        let def = spec.compile().unwrap();
        let first = prober.run(&def, 0).await;
        assert_eq!(first.error, None, "{kind}: the first answer is allowed and used");
        let second = prober.run(&def, 0).await;
        let error = second.error.unwrap_or_default();
        assert!(error.contains("checks.denied_networks"), "{kind}: {error}");
        assert!(lookup.asked.load(Ordering::SeqCst) >= 2);
    }
    // The listener counts in its own task: wait for it to have seen both connections.
    eventually("both connections counted", std::time::Duration::from_secs(5), || async {
        (allowed.connections() == 2).then_some(())
    })
    .await;
    assert_eq!(denied.connections(), 0, "the denied address was connected to");
}
