//! Real peers for the outbound channels: an SMTP server (the `mailin` protocol engine on a tokio
//! listener, port 0) that lettre talks to over TCP, and an HTTP receiver that verifies Standard
//! Webhooks signatures and answers with scripted statuses — or, from a chosen request on, holds
//! its answers (requests in flight) until released.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    pub raw: String,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next()?;
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = out.as_mut().filter(|_| line.starts_with([' ', '\t'])) {
                v.push_str(line.trim_start());
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_string());
            }
        }
        out
    }

    /// The text/plain part, decoded (quoted-printable or base64).
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    /// The text/html part, decoded.
    pub fn html(&self) -> String {
        self.part("text/html")
    }

    /// The bytes of the first attachment of `content_type` (base64 in the mail).
    pub fn attachment(&self, content_type: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        let part = self.raw.split(&format!("Content-Type: {content_type}")).nth(1)?;
        let (_, rest) = part.split_once("\r\n\r\n")?;
        let body = rest.split("\r\n--").next().unwrap_or_default();
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD.decode(compact).ok()
    }

    fn part(&self, content_type: &str) -> String {
        let part = self.raw.split(&format!("Content-Type: {content_type}")).nth(1).unwrap_or(&self.raw);
        let (head, rest) = part.split_once("\r\n\r\n").unwrap_or((part, ""));
        let body = rest.split("\r\n--").next().unwrap_or_default();
        if head.to_ascii_lowercase().contains("base64") {
            use base64::Engine;
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default();
            return String::from_utf8_lossy(&bytes).to_string();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).to_string()
    }
}

#[derive(Clone, Default)]
struct Collector {
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin::Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> mailin::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        let mail = ReceivedMail { to: self.to.clone(), raw: String::from_utf8_lossy(&self.data).to_string() };
        self.mails.lock().unwrap().push(mail);
        mailin::response::OK
    }
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    task: tokio::task::JoinHandle<()>,
}

/// A loopback port held for a test: bound but not listening, so connections to it are refused
/// (as to a stopped server) and no other test or program can take it meanwhile — a port merely
/// released could be, and then a server started on it later fails to bind.
pub struct ReservedPort {
    socket: socket2::Socket,
    pub port: u16,
}

impl ReservedPort {
    pub fn new() -> ReservedPort {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        ReservedPort { socket, port }
    }

    /// Starts listening on it.
    pub fn listen(self) -> std::net::TcpListener {
        self.socket.listen(128).unwrap();
        self.socket.set_nonblocking(true).unwrap();
        self.socket.into()
    }
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        Self::serve(TcpListener::bind(("127.0.0.1", 0)).await.expect("bind smtp"))
    }

    /// The mail server comes up on a port held until now (connections were refused).
    pub fn start_on(port: ReservedPort) -> SmtpServer {
        Self::serve(TcpListener::from_std(port.listen()).unwrap())
    }

    fn serve(listener: TcpListener) -> SmtpServer {
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<ReceivedMail>>> = Arc::default();
        let collector = Collector { mails: mails.clone(), ..Default::default() };
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let handler = collector.clone();
                tokio::spawn(serve(stream, peer, handler));
            }
        });
        SmtpServer { port, mails, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.mails.lock().unwrap().clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: tokio::net::TcpStream, peer: SocketAddr, handler: Collector) {
    let mut session = mailin::SessionBuilder::new("smtp.test").build(peer.ip(), handler);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if write.write_all(&session.greeting().buffer().unwrap()).await.is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let res = session.process(&line);
        match res.action {
            mailin::Action::Reply => {
                if write.write_all(&res.buffer().unwrap()).await.is_err() {
                    return;
                }
            }
            mailin::Action::Close | mailin::Action::UpgradeTls => {
                let _ = write.write_all(&res.buffer().unwrap()).await;
                return;
            }
            mailin::Action::NoReply => {}
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReceivedHook {
    pub id: String,
    pub verified: bool,
    pub json: Value,
}

/// From which request on answers are held, and the gate that releases them.
struct Hold {
    from: std::sync::atomic::AtomicUsize,
    gate: tokio::sync::watch::Sender<bool>,
}

impl Default for Hold {
    fn default() -> Self {
        Self { from: usize::MAX.into(), gate: tokio::sync::watch::channel(false).0 }
    }
}

#[derive(Clone)]
struct HookState {
    secret: String,
    received: Arc<Mutex<Vec<ReceivedHook>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    hold: Arc<Hold>,
}

pub struct WebhookReceiver {
    pub port: u16,
    received: Arc<Mutex<Vec<ReceivedHook>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    hold: Arc<Hold>,
    handle: actix_web::dev::ServerHandle,
}

async fn hook(state: web::Data<HookState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let id = h("webhook-id");
    let timestamp: i64 = h("webhook-timestamp").parse().unwrap_or_default();
    let verified =
        opsline::notify::standard_webhooks::verify(&state.secret, &id, timestamp, &body, &h("webhook-signature"));
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let arrived = {
        let mut received = state.received.lock().unwrap();
        received.push(ReceivedHook { id, verified, json });
        received.len()
    };
    if arrived > state.hold.from.load(std::sync::atomic::Ordering::SeqCst) {
        let mut gate = state.hold.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
    }
    let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body("ok")
}

impl WebhookReceiver {
    pub async fn start(secret: &str) -> WebhookReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received: Arc<Mutex<Vec<ReceivedHook>>> = Arc::default();
        let script: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let hold: Arc<Hold> = Arc::default();
        let state =
            HookState { secret: secret.into(), received: received.clone(), script: script.clone(), hold: hold.clone() };
        let server = HttpServer::new(move || {
            App::new().app_data(web::Data::new(state.clone())).route("/hook", web::post().to(hook))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        WebhookReceiver { port, received, script, hold, handle }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn received(&self) -> Vec<ReceivedHook> {
        self.received.lock().unwrap().clone()
    }

    /// The next answers, in order; 200 once they run out.
    pub fn answer_with(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    /// Answers the first `n` requests received, and holds every later one unanswered.
    pub fn hold_after(&self, n: usize) {
        self.hold.from.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers the held requests and every later one at once.
    pub fn release(&self) {
        self.hold.from.store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
        self.hold.gate.send_replace(true);
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        std::mem::drop(self.handle.stop(false));
    }
}

/// A health-check target: `/state` answers with the status and body the test sets, `/slow`
/// takes 200 ms; it counts requests per path and the most requests in flight at once.
#[derive(Default)]
struct TargetInner {
    status: u16,
    body: String,
    hits: std::collections::HashMap<String, usize>,
    in_flight: usize,
    max_in_flight: usize,
}

pub struct TargetServer {
    pub port: u16,
    inner: Arc<Mutex<TargetInner>>,
    handle: actix_web::dev::ServerHandle,
}

async fn target(state: web::Data<Arc<Mutex<TargetInner>>>, req: HttpRequest) -> HttpResponse {
    let path = req.path().to_string();
    {
        let mut s = state.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
    }
    if path == "/slow" {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut s = state.lock().unwrap();
    s.in_flight -= 1;
    let (status, body) =
        if path == "/slow" { (200, r#"{"status":"UP"}"#.to_string()) } else { (s.status, s.body.clone()) };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body(body)
}

impl TargetServer {
    pub async fn start() -> TargetServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner =
            Arc::new(Mutex::new(TargetInner { status: 200, body: r#"{"status":"UP"}"#.into(), ..Default::default() }));
        let data = inner.clone();
        let server =
            HttpServer::new(move || App::new().app_data(web::Data::new(data.clone())).default_service(web::to(target)))
                .workers(2)
                .listen(listener)
                .unwrap()
                .run();
        let handle = server.handle();
        tokio::spawn(server);
        TargetServer { port, inner, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What `/state` answers from now on.
    pub fn answer(&self, status: u16, body: &str) {
        let mut s = self.inner.lock().unwrap();
        s.status = status;
        s.body = body.into();
    }

    pub fn hits(&self, path: &str) -> usize {
        self.inner.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }
}

impl Drop for TargetServer {
    fn drop(&mut self) {
        std::mem::drop(self.handle.stop(false));
    }
}

/// A free port on loopback (released at once; the program binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real program the tests drive (Prometheus, Alertmanager), with a config file written to its
/// own temporary directory, killed when dropped.
pub struct Program {
    child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Program {
    /// Writes `config` as `file` in a new directory, starts the first of `candidates` that
    /// exists with `args(dir, port)`, and waits until `GET /-/ready` answers 200.
    pub async fn start(
        candidates: &[&str],
        package: &str,
        file: &str,
        config: &str,
        args: impl Fn(&std::path::Path, u16) -> Vec<String>,
    ) -> Program {
        Program::spawn(candidates, package, file, config, args).ready("/-/ready", package).await
    }

    /// [`Program::start`] without waiting.
    pub fn spawn(
        candidates: &[&str],
        package: &str,
        file: &str,
        config: &str,
        args: impl Fn(&std::path::Path, u16) -> Vec<String>,
    ) -> Program {
        let in_path = |name: &str| {
            std::env::var_os("PATH")
                .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
        };
        let bin = candidates.iter().find_map(|c| in_path(c)).unwrap_or_else(|| {
            panic!("none of {candidates:?} is installed: the test command installs Debian's `{package}`")
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), config).unwrap();
        let port = free_port();
        let child = std::process::Command::new(bin)
            .args(args(dir.path(), port))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {package}: {e}"));
        Program { child, url: format!("http://127.0.0.1:{port}"), _dir: dir }
    }

    /// Waits until `GET path` answers 200.
    pub async fn ready(self, path: &str, package: &str) -> Program {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{}{path}", self.url)).send().await.is_ok_and(|r| r.status() == 200) {
                return self;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{package} did not become ready");
    }
}
