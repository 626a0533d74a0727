//! The configuration file's shape (`config/default.toml` documents every key). Values are checked
//! in `validate`; this module only says what may be written.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::secret::Secret;

mod escalation;
pub use escalation::*;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub web: WebSettings,
    pub tickets: TicketSettings,
    pub visits: VisitSettings,
    pub attachments: AttachmentSettings,
    pub classification: ClassificationSettings,
    pub calendars: BTreeMap<String, CalendarSettings>,
    pub sla_policies: BTreeMap<String, PolicySettings>,
    pub tiers: TierSettings,
    #[serde(default)]
    pub teams: BTreeMap<String, TeamSettings>,
    pub escalation: EscalationSettings,
    #[serde(default)]
    pub oncall: BTreeMap<String, Vec<OncallShift>>,
    pub notify: NotifySettings,
    pub email: EmailSettings,
    pub webhooks: WebhookSettings,
    pub delivery: DeliverySettings,
    pub sweep: SweepSettings,
    pub metrics: MetricsSettings,
    pub integrations: IntegrationSettings,
    pub limits: LimitSettings,
    pub workers: WorkerSettings,
    pub checks: CheckSettings,
    pub gating: GatingSettings,
    pub inspections: InspectionSettings,
    pub reports: ReportSettings,
    pub ratings: RatingSettings,
    pub search: SearchSettings,
    pub kb: KbSettings,
    pub retention: RetentionSettings,
    /// Environment profiles: `[environments.NAME]`.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentSettings>,
}

/// What a kind of host or product version needs, judged on an exporter's series.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSettings {
    #[serde(default)]
    pub description: String,
    /// Conditions on series (`[METRIC …]`, `[RATIO …]`, `[COUNT …]`, `[LABEL …]`).
    pub conditions: Vec<String>,
}

impl Settings {
    /// The longest one delivery batch may take: its rounds of sends × the slowest timeout, in
    /// seconds. A lease must outlast it, or another worker sends the batch again.
    pub fn delivery_batch_secs(&self) -> (u64, u64) {
        let d = &self.delivery;
        let slowest = self.webhooks.endpoints.values().map(|e| e.timeout_ms).chain([self.email.timeout_ms]).max();
        let rounds = d.batch.div_ceil(d.per_loop() as u64);
        (rounds, rounds * slowest.unwrap_or(0).div_ceil(1000))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckSettings {
    /// Networks no check may reach (CIDR); cloud metadata and link-local by default.
    pub denied_networks: Vec<String>,
    /// Redirects an http check follows, each checked against `denied_networks`.
    #[serde(default = "default_check_redirects")]
    pub max_redirects: usize,
    /// An exporter check refuses a body larger than this.
    #[serde(default = "default_exporter_max_bytes")]
    pub exporter_max_bytes: usize,
    /// Checks one instance runs at once.
    pub concurrency: u32,
    /// Due checks claimed at once.
    pub batch: u64,
    /// How long a claimed check stays claimed (a crashed instance's claim runs out).
    pub lease_secs: u64,
    /// More than this many up/down flips within `flap_window` is flapping.
    pub flap_flips: u32,
    pub flap_window: String,
    /// The checks defined in config: `[checks.NAME]`.
    #[serde(flatten)]
    pub defined: BTreeMap<String, crate::checks::spec::CheckSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatingSettings {
    /// Check names; when all of them fail, Opsline itself is cut off: results are `unknown`
    /// and no tickets open.
    pub canaries: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InspectionSettings {
    /// Checks an inspection runs at once.
    pub concurrency: u32,
    /// A cron schedule (sec min hour day month weekday, UTC) for automatic inspections; empty:
    /// none.
    pub schedule: String,
    /// Scheduled inspections run the checks with any of these tags (all checks when empty).
    pub schedule_tags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetentionSettings {
    /// Raw check results.
    pub check_results: String,
    pub minute_rollups: String,
    pub day_rollups: String,
    /// Delivered notifications and their attempts.
    pub delivered_notifications: String,
    /// Rows deleted per statement by the daily job.
    pub batch: u64,
}

fn default_check_redirects() -> usize {
    5
}

fn default_exporter_max_bytes() -> usize {
    crate::checks::probe::EXPORTER_MAX_BYTES
}
/// Requests per minute per client address, on each instance.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub sign_in_per_minute: u32,
    pub token_creation_per_minute: u32,
    pub intake_per_minute: u32,
    pub failed_auth_per_minute: u32,
    /// Failed sign-ins an account may have within 15 minutes before every attempt on it waits.
    #[serde(default = "default_failed_sign_ins")]
    pub failed_sign_ins_per_account: u32,
}

fn default_failed_sign_ins() -> u32 {
    10
}

#[derive(Debug, Clone, Deserialize)]
pub struct IntegrationSettings {
    /// A firing alert whose ticket was resolved less than this ago reopens it; later, it opens a
    /// new ticket.
    pub reopen_window: String,
    #[serde(default)]
    pub email: EmailIntakeSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EmailIntakeSettings {
    /// Take mail from a contact only when the receiving MTA's `Authentication-Results` says DMARC
    /// (or SPF and DKIM) passed for the `From` domain.
    #[serde(default)]
    pub require_auth_results: bool,
    /// The MTA's authserv-id: only its topmost `Authentication-Results` counts. Empty: the
    /// topmost of any.
    #[serde(default)]
    pub authserv_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// A separate address for `/metrics`; empty serves it on `http.listen`.
    pub listen: String,
    /// How often the database gauges are recomputed (by one instance) and re-read (by all).
    pub refresh_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// Run the sweep, delivery and maintenance loops in this instance.
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Address the API, pages and (unless `metrics.listen` is set) `/metrics` listen on.
    pub listen: String,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Largest request body outside attachment uploads; larger ones get 413.
    pub max_body_bytes: u64,
    /// Worker threads serving HTTP; 0 means one per core.
    pub workers: u32,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` is believed; from
    /// anyone else the header is ignored and the peer address is the client. Default: none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://path` (created on first start) or `postgres://…`.
    pub url: Secret,
    /// Pool size on PostgreSQL; SQLite uses one connection so that writers never race.
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `opsline=debug,info`; `OPSLINE_LOG` overrides it.
    pub level: String,
    /// `pretty` or `json`.
    pub format: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebSettings {
    /// Signs session cookies and links; at least 32 characters, the same on every instance.
    /// Required outside development.
    #[serde(default)]
    pub secret_key: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TicketSettings {
    /// How far before now staff may set `reported_at` when opening a ticket.
    pub max_backdate: String,
    /// How long after closing a ticket may still be reopened.
    pub reopen_window: String,
    /// Working days a ticket may wait for the customer before it resumes by itself.
    pub max_wait: String,
    /// How long a resolved ticket stays resolved before it closes by itself.
    pub auto_close_after: String,
    /// A ticket with visits is confirmed only once a visit is signed.
    pub require_signed_visit: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// When a scheduled report is made and mailed, `HH:MM` in the customer's time zone, on the
    /// Monday after the week (weekly) or the first after the month (monthly).
    pub send_at: String,
    /// How long a report's acknowledge link works, in days.
    pub ack_link_days: u32,
    /// Working time on the customer's calendar (`3d`, `4h`) after which a report neither
    /// acknowledged nor disputed fires the `report_unacknowledged` rules.
    pub ack_within: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingSettings {
    /// How long a rating link (and the portal's form) works after the ticket closed (`14d`).
    pub expire_after: String,
    /// A score at or below this (or any score from a VIP customer) asks for a follow-up call.
    pub callback_below: u8,
    /// Percent of closed tickets whose contact is asked, per customer tier.
    pub sample_percent: SamplePercent,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Product and module names, error codes: words the segmenter keeps whole (NC65, 凭证生成).
    /// Changing it applies to what is indexed from then on.
    pub dictionary: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbSettings {
    /// Hide other customers' names from agents in similar-ticket suggestions.
    pub hide_customer_from_agents: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplePercent {
    pub vip: u8,
    pub standard: u8,
}

impl SamplePercent {
    pub fn of(&self, tier: crate::domain::customer::Tier) -> u8 {
        match tier {
            crate::domain::customer::Tier::Vip => self.vip,
            crate::domain::customer::Tier::Standard => self.standard,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitSettings {
    /// How old a check-in's device time may be and still count (made offline, sent later).
    pub max_offline: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AttachmentSettings {
    /// Largest attachment accepted.
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClassificationSettings {
    /// The level when no phrase matches.
    pub default_level: String,
    #[serde(default)]
    pub rules: BTreeMap<String, ClassificationRule>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClassificationRule {
    pub level: String,
    pub phrases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CalendarSettings {
    pub timezone: String,
    #[serde(default)]
    pub always: bool,
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub exceptions: ExceptionSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExceptionSettings {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub workdays: Vec<String>,
}

/// An included holiday file: `holidays` and `workdays` only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayFile {
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub workdays: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PolicySettings {
    #[serde(default)]
    pub pause_exempt: Vec<String>,
    /// Level keys (`I` … `IV`, any case) to their targets.
    #[serde(flatten)]
    pub levels: BTreeMap<String, LevelTargetSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelTargetSettings {
    pub response: String,
    pub plan: String,
    pub resolution: String,
    /// On-site arrival (`4h`, `1d`); without it the level has no arrival timer.
    #[serde(default)]
    pub arrival: Option<String>,
    /// The follow-up call after a low rating (`4h`, `1d`); without it the level has no
    /// callback timer (the callback is still asked for, untimed).
    #[serde(default)]
    pub callback: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TierSettings {
    pub vip: ContractSettings,
    pub standard: ContractSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContractSettings {
    pub calendar: String,
    pub sla_policy: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TeamSettings {
    pub display_name: String,
    /// Username of the team's lead (escalations fall back to them).
    #[serde(default)]
    pub lead: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}
