//! Webhook delivery with reqwest: Standard Webhooks headers, a timeout per endpoint, no
//! redirects, and a resolver that refuses internal addresses unless allowed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::network::allowed;
use super::signing::sign;
use super::{Attempt, Failure};
use crate::config::escalation::{Endpoint, url_host};

/// Resolves names and drops the addresses webhooks may not reach, so a name that points
/// inside the network cannot be used to get there.
struct Guarded {
    allowed: Arc<Vec<IpNet>>,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed_nets = self.allowed.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = addrs.into_iter().filter(|a| allowed(a.ip(), &allowed_nets)).collect();
            if ok.is_empty() {
                return Err(format!(
                    "{host} resolves only to addresses webhooks may not reach (webhooks.allowed_networks)"
                )
                .into());
            }
            let it: Addrs = Box::new(ok.into_iter());
            Ok(it)
        })
    }
}

pub struct WebhookClient {
    client: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
}

impl WebhookClient {
    pub fn new(allowed_networks: Vec<IpNet>) -> Result<Self, String> {
        let allowed = Arc::new(allowed_networks);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(Guarded { allowed: allowed.clone() }))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("opsline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client, allowed })
    }

    /// Sends `body` to `endpoint`, signed; `id` is constant across retries so that receivers can
    /// deduplicate.
    pub async fn send(&self, endpoint: &Endpoint, id: &str, timestamp: i64, body: &[u8]) -> Attempt {
        if let Some(ip) = url_host(&endpoint.url).and_then(|h| h.parse::<IpAddr>().ok())
            && !allowed(ip, &self.allowed)
        {
            return Attempt::failed(
                Failure::Permanent,
                None,
                format!("{ip} is an internal address not in webhooks.allowed_networks"),
            );
        }
        let res = self
            .client
            .post(&endpoint.url)
            .timeout(Duration::from_millis(endpoint.timeout_ms))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(endpoint.secret.expose(), id, timestamp, body))
            .body(body.to_vec())
            .send()
            .await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok());
                if r.status().is_success() {
                    return Attempt::ok(Some(status));
                }
                let text: String = r.text().await.unwrap_or_default().chars().take(300).collect();
                let failure = if status >= 500 || status == 408 || status == 429 {
                    Failure::Retry { retry_after }
                } else {
                    Failure::Permanent
                };
                Attempt::failed(failure, Some(status), format!("HTTP {status}: {text}"))
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                Attempt::failed(Failure::Retry { retry_after: None }, None, format!("{what}: {}", error_chain(&e)))
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s.chars().take(500).collect()
}
