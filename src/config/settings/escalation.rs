//! The configuration's escalation part: rules, on-call shifts, how notifications go out (e-mail,
//! webhooks), and the delivery and sweep loops that carry them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
pub struct EscalationSettings {
    /// How long an e-mailed acknowledge link stays valid.
    pub ack_link_ttl: String,
    /// The base of links in e-mails (the console and the acknowledge page).
    pub public_url: String,
    #[serde(default)]
    pub rules: Vec<RuleSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Identifies the rule in event keys; a hash of the rule's content when absent.
    #[serde(default)]
    pub name: Option<String>,
    pub on: String,
    /// response | plan | resolution | any (warnings and breaches).
    #[serde(default)]
    pub timer: Option<String>,
    #[serde(default)]
    pub levels: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Customer keys.
    #[serde(default)]
    pub customers: Vec<String>,
    /// Warnings: a share of the working time start→due (`80%`) or a lead time (`5m`).
    #[serde(default)]
    pub at: Option<String>,
    pub notify: Vec<String>,
    /// Repeat every this much working time until acknowledged or met.
    #[serde(default)]
    pub repeat: Option<String>,
    /// Breaches: this much working time after the breach (a later tier).
    #[serde(default)]
    pub after: Option<String>,
}

/// One on-call shift: `user` is on duty from `from` to `to`, local times in `timezone`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OncallShift {
    pub user: String,
    pub from: String,
    pub to: String,
    pub timezone: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotifySettings {
    /// Mails to one address per minute; the rest fold into one digest.
    pub max_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmailSettings {
    /// `smtp://host:587` (STARTTLS when offered; `?tls=required` to insist), `smtps://host:465`,
    /// or empty to disable e-mail. A secret when it holds credentials.
    pub smtp_url: Secret,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    pub from: String,
    pub timeout_ms: u64,
    /// The domain of the `Message-ID`s and thread ids Opsline writes; empty: `from`'s domain.
    #[serde(default)]
    pub message_id_domain: String,
}

impl EmailSettings {
    /// The domain Opsline's message ids are under: `message_id_domain`, else the domain of
    /// `from`, else `opsline.invalid`.
    pub fn id_domain(&self) -> String {
        let from = self.from.rsplit('<').next().unwrap_or(&self.from).trim_end_matches('>');
        let own = from.rsplit_once('@').map(|(_, d)| d.trim().to_ascii_lowercase());
        Some(self.message_id_domain.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .or(own.filter(|d| !d.is_empty()))
            .unwrap_or_else(|| "opsline.invalid".into())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// Private and loopback networks webhooks may reach (CIDR); all others are refused.
    pub allowed_networks: Vec<String>,
    /// Redirects a delivery follows, each checked as the first request (none by default).
    #[serde(default)]
    pub max_redirects: usize,
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    pub url: String,
    /// Signs every delivery (Standard Webhooks); at least 16 characters.
    pub secret: Secret,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
}

fn default_webhook_timeout() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliverySettings {
    /// Waits before each retry; a delivery is a dead letter when they run out.
    pub retry_schedule: Vec<String>,
    /// ± this share of each wait, so that retries spread out.
    pub jitter_percent: u32,
    /// How long a claimed delivery stays claimed before another worker may take it.
    pub lease_secs: u64,
    /// Deliveries claimed at once by one loop.
    pub batch: u64,
    /// Deliveries sent at once by one instance, shared by its loops.
    pub concurrency: u32,
    /// Delivery loops per instance: each claims, sends and records its own batches, so that one
    /// loop's database work overlaps the others' sending.
    #[serde(default = "default_delivery_loops")]
    pub loops: u32,
    /// Rows leased by an instance whose heartbeat is older than this may be taken by others.
    #[serde(default = "default_takeover_secs")]
    pub takeover_secs: u64,
    /// A name for this instance that stays the same across restarts (say, the host's), so that a
    /// restart takes back its own leases at once. Empty: a new random name each start.
    #[serde(default)]
    pub instance_name: String,
}

fn default_takeover_secs() -> u64 {
    10
}

fn default_delivery_loops() -> u32 {
    4
}

impl DeliverySettings {
    /// Deliveries one loop sends at once.
    pub fn per_loop(&self) -> usize {
        (self.concurrency.max(1) as usize).div_ceil(self.loops.max(1) as usize)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SweepSettings {
    /// Timers claimed per transaction.
    pub batch: u64,
    /// The longest the sweep sleeps when nothing is due.
    pub max_sleep_ms: u64,
    /// Sweep loops per instance on PostgreSQL, each claiming its own timers (SQLite runs one:
    /// its writes are serial anyway).
    #[serde(default = "default_sweep_loops")]
    pub loops: u32,
}

fn default_sweep_loops() -> u32 {
    4
}
