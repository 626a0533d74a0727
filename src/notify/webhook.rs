//! Webhook delivery with reqwest: Standard Webhooks headers, a timeout per endpoint, no
//! redirects, and a resolver that refuses internal addresses unless allowed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::network::{FilteringResolver, allowed};
use super::standard_webhooks::sign;
use super::{Attempt, Failure};
use crate::config::escalation::{Endpoint, url_host};

pub struct WebhookClient {
    client: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
}

impl WebhookClient {
    pub fn new(allowed_networks: Vec<IpNet>) -> Result<Self, String> {
        let allowed = Arc::new(allowed_networks);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(FilteringResolver {
                networks: allowed.clone(),
                keep: super::network::allowed,
                refused: "webhooks may not reach (webhooks.allowed_networks)",
            }))
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
