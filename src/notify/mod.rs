//! Outbound channels: e-mail (lettre) and signed webhooks (reqwest). Called only by the delivery
//! worker; knows nothing about the database or HTTP handlers.

pub mod email;
pub mod render;
pub mod standard_webhooks;
pub mod webhook;

use crate::config::Config;

/// Why a send failed, and whether trying again could help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Retry { retry_after: Option<i64> },
    Permanent,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub failure: Option<Failure>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

impl Attempt {
    pub fn ok(http_status: Option<u16>) -> Self {
        Self { failure: None, http_status, error: None }
    }

    pub fn failed(failure: Failure, http_status: Option<u16>, error: String) -> Self {
        Self { failure: Some(failure), http_status, error: Some(error) }
    }
}

/// The channels, built once at start.
pub struct Notifier {
    pub mailer: Option<email::Mailer>,
    pub webhooks: webhook::WebhookClient,
}

impl Notifier {
    pub fn new(config: &Config) -> Result<Self, String> {
        // reqwest and lettre use rustls; ring is the provider (a no-op when one is installed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Self {
            mailer: email::Mailer::from_settings(&config.settings.email)?,
            webhooks: webhook::WebhookClient::new(
                config.runtime.escalation.allowed_networks.clone(),
                config.settings.webhooks.max_redirects,
            )?,
        })
    }
}
