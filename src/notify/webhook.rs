//! Webhook delivery with reqwest: Standard Webhooks headers, a timeout per endpoint, and
//! `crate::outbound`'s policy for webhooks: internal addresses only in `webhooks.allowed_networks`,
//! at most `webhooks.max_redirects` redirects (none by default), every hop checked.

use std::time::Duration;

use ipnet::IpNet;

use super::standard_webhooks::sign;
use super::{Attempt, Failure};
use crate::config::escalation::Endpoint;
use crate::outbound::{Outbound, Rule};

pub struct WebhookClient {
    client: reqwest::Client,
    outbound: Outbound,
}

impl WebhookClient {
    pub fn new(allowed_networks: Vec<IpNet>, max_redirects: usize) -> Result<Self, String> {
        Self::with_outbound(Outbound::new(Rule::PublicAnd(allowed_networks)), max_redirects)
    }

    pub fn with_outbound(outbound: Outbound, max_redirects: usize) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(outbound.resolver())
            .redirect(outbound.redirects(max_redirects))
            .user_agent(concat!("opsline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client, outbound })
    }

    /// Sends `body` to `endpoint`, signed; `id` is constant across retries so that receivers can
    /// deduplicate.
    pub async fn send(&self, endpoint: &Endpoint, id: &str, timestamp: i64, body: &[u8]) -> Attempt {
        let url = match reqwest::Url::parse(&endpoint.url) {
            Ok(u) => u,
            Err(e) => return Attempt::failed(Failure::Permanent, None, format!("not a URL: {e}")),
        };
        if let Err(refused) = self.outbound.check_url(&url) {
            return Attempt::failed(Failure::Permanent, None, refused.to_string());
        }
        let res = self
            .client
            .post(url)
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
            Err(e) => Attempt::failed(Failure::Retry { retry_after: None }, None, crate::outbound::request_failure(e)),
        }
    }
}
