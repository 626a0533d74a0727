//! Prometheus metrics: one registry owned by the application state (no globals). Counters and
//! histograms count the work this instance did, recorded from a [`Tally`] after the work's
//! transaction committed; the gauges whose truth is in the database are computed by one instance
//! and stored (`services::gauges`), and every instance exports the stored values. Families whose
//! labels are fixed enumerations start at 0 for every combination.

mod snapshot;
mod tally;

use std::collections::BTreeSet;
use std::sync::Mutex;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub use snapshot::{CheckGauge, Counts, Snapshot};
pub use tally::{Fact, Tally};

use crate::domain::check::InspectionStatus;
use crate::domain::customer::Tier;
use crate::domain::delivery::Channel;
use crate::domain::escalation::On;
use crate::domain::level::Level;
use crate::domain::sla::{Outcome, TimerKind};
use crate::domain::ticket::{Source, Status};

// A fixed label's values are its enumeration's variants under their stored names, read from the
// enumeration itself: a variant added there is exported from the start, with nothing to update here.

pub(crate) fn levels() -> [&'static str; Level::ALL.len()] {
    Level::ALL.map(Level::as_str)
}

pub(crate) fn timers() -> [&'static str; TimerKind::ALL.len()] {
    TimerKind::ALL.map(TimerKind::as_str)
}

/// The statuses `opsline_tickets_open` counts: the unresolved ones.
pub(crate) fn open_statuses() -> [&'static str; Status::UNRESOLVED.len()] {
    Status::UNRESOLVED.map(Status::as_str)
}

/// The channels that carry messages (`Channel::None` records a dead letter and sends nothing).
const CHANNELS: [Channel; 2] = [Channel::Email, Channel::Webhook];

crate::text_enum! {
    /// What a delivery attempt came to (`opsline_notifications_total{outcome}`).
    pub enum AttemptOutcome ("delivery attempt outcome") {
        Delivered = "delivered",
        Retried = "retried",
        Dead = "dead",
    }
}

pub const SCORES: [&str; 5] = ["1", "2", "3", "4", "5"];

/// Seconds from a timer's start to when it was met: ten minutes to five days and beyond.
const TIME_TO_MET_BUCKETS: [f64; 14] = [
    60.0, 180.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 259200.0, 432000.0,
];
const HTTP_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

pub struct Metrics {
    registry: Registry,
    pub(crate) opened: IntCounterVec,
    pub(crate) finished: IntCounterVec,
    pub(crate) breaches: IntCounterVec,
    pub(crate) warnings: IntCounterVec,
    pub(crate) time_to_met: HistogramVec,
    pub(crate) escalations: IntCounterVec,
    pub(crate) notifications: IntCounterVec,
    pub(crate) inspections: IntCounterVec,
    pub(crate) ratings: IntCounterVec,
    pub(crate) kb: IntCounterVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    pub(crate) tickets_open: IntGaugeVec,
    pub(crate) at_risk: IntGaugeVec,
    pub(crate) breached: IntGaugeVec,
    pub(crate) outbox_pending: IntGauge,
    pub(crate) outbox_oldest_age: Gauge,
    pub(crate) outbox_dead: IntGauge,
    pub(crate) sweep_lag: Gauge,
    pub(crate) check_up: IntGaugeVec,
    pub(crate) check_duration: GaugeVec,
    pub(crate) check_cert_expiry: GaugeVec,
    pub(crate) refreshed_at: Gauge,
    pub(crate) config_mismatch: IntGauge,
    /// Check names currently exported, so that a deleted check's series go away.
    pub(crate) exported_checks: Mutex<BTreeSet<String>>,
    /// Identifies this instance in the database lease over the stored gauges.
    pub holder: String,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn float_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn int_gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn float_gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<Gauge> {
    let g = Gauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

/// Every combination of the given label value lists.
fn combos<'a>(lists: &[&[&'a str]]) -> Vec<Vec<&'a str>> {
    lists.iter().fold(vec![vec![]], |acc, list| {
        acc.iter().flat_map(|prefix| list.iter().map(move |v| [prefix.as_slice(), &[*v]].concat())).collect()
    })
}

impl Metrics {
    pub fn new(version: &str) -> prometheus::Result<Self> {
        let r = Registry::new();
        let m = Metrics {
            opened: counter(&r, "opsline_tickets_opened_total", "Tickets opened.", &["level", "source", "tier"])?,
            finished: counter(
                &r,
                "opsline_sla_timers_finished_total",
                "SLA timers that ended, by outcome (breached: ended unmet after the deadline).",
                &["level", "timer", "tier", "outcome"],
            )?,
            breaches: counter(
                &r,
                "opsline_sla_breaches_total",
                "SLA timers that passed their deadline unmet.",
                &["level", "timer", "tier"],
            )?,
            warnings: counter(&r, "opsline_sla_warnings_total", "Warning escalations fired.", &["level", "timer"])?,
            time_to_met: histogram(
                &r,
                "opsline_sla_time_to_met_seconds",
                "Wall-clock seconds from a timer's start to when it was met.",
                &["level", "timer"],
                &TIME_TO_MET_BUCKETS,
            )?,
            escalations: counter(&r, "opsline_escalations_total", "Escalation events recorded.", &["on", "timer"])?,
            notifications: counter(
                &r,
                "opsline_notifications_total",
                "Delivery attempts by channel and what became of them.",
                &["channel", "outcome"],
            )?,
            inspections: counter(&r, "opsline_inspections_total", "Inspections finished, by status.", &["status"])?,
            ratings: counter(
                &r,
                "opsline_ratings_total",
                "Satisfaction ratings given, by score (1-5) and customer tier.",
                &["score", "tier"],
            )?,
            kb: counter(
                &r,
                "opsline_knowledge_suggestions_total",
                "Knowledge-base suggestions and articles, by outcome: shown, opened, used (linked to a ticket), \
                 solved_by (cited by a resolution), helpful, not_helpful.",
                &["outcome"],
            )?,
            http_requests: counter(
                &r,
                "opsline_http_requests_total",
                "HTTP requests served, by route pattern.",
                &["route", "method", "status"],
            )?,
            http_duration: histogram(
                &r,
                "opsline_http_request_duration_seconds",
                "Seconds to serve an HTTP request, by route pattern.",
                &["route", "method"],
                &HTTP_BUCKETS,
            )?,
            tickets_open: gauge_vec(
                &r,
                "opsline_tickets_open",
                "Unresolved tickets (stored; aggregate with max).",
                &["level", "status"],
            )?,
            at_risk: gauge_vec(
                &r,
                "opsline_sla_timers_at_risk",
                "Running timers past 80% of their working time, not yet breached (stored; aggregate with max).",
                &["level", "timer"],
            )?,
            breached: gauge_vec(
                &r,
                "opsline_sla_timers_breached",
                "Unmet timers past their deadline (stored; aggregate with max).",
                &["level", "timer"],
            )?,
            outbox_pending: int_gauge(&r, "opsline_outbox_pending", "Notifications waiting to be delivered (stored).")?,
            outbox_oldest_age: float_gauge(
                &r,
                "opsline_outbox_oldest_pending_age_seconds",
                "Age of the oldest notification waiting to be delivered (stored).",
            )?,
            outbox_dead: int_gauge(&r, "opsline_outbox_dead", "Dead letters waiting for a retry or purge (stored).")?,
            sweep_lag: float_gauge(
                &r,
                "opsline_sweep_lag_seconds",
                "How long the oldest due escalation step has waited for the sweep (stored).",
            )?,
            check_up: gauge_vec(
                &r,
                "opsline_check_up",
                "Whether the check's latest result passed (stored).",
                &["check"],
            )?,
            check_duration: float_vec(
                &r,
                "opsline_check_duration_seconds",
                "Duration of the check's latest probe (stored).",
                &["check"],
            )?,
            check_cert_expiry: float_vec(
                &r,
                "opsline_check_certificate_expiry_timestamp_seconds",
                "When the certificate a TLS check saw last expires (stored).",
                &["check"],
            )?,
            refreshed_at: float_gauge(
                &r,
                "opsline_metrics_refresh_timestamp_seconds",
                "When the stored gauges were last computed.",
            )?,
            config_mismatch: int_gauge(
                &r,
                "opsline_config_mismatch",
                "1 when this instance's configuration is not the newest one registered.",
            )?,
            exported_checks: Mutex::new(BTreeSet::new()),
            holder: uuid::Uuid::new_v4().simple().to_string(),
            registry: r,
        };
        let info = IntGaugeVec::new(Opts::new("opsline_build_info", "The running version; always 1."), &["version"])?;
        m.registry.register(Box::new(info.clone()))?;
        info.with_label_values(&[version]).set(1);
        m.initialise();
        Ok(m)
    }

    /// Every fixed label combination exists from the start, at 0.
    fn initialise(&self) {
        let (levels, timers, tiers) = (levels(), timers(), Tier::ALL.map(Tier::as_str));
        for c in combos(&[&levels, &Source::ALL.map(Source::as_str), &tiers]) {
            self.opened.with_label_values(&c);
        }
        for c in combos(&[&levels, &timers, &tiers, &Outcome::ALL.map(Outcome::as_str)]) {
            self.finished.with_label_values(&c);
        }
        for c in combos(&[&levels, &timers, &tiers]) {
            self.breaches.with_label_values(&c);
        }
        for c in combos(&[&levels, &timers]) {
            self.warnings.with_label_values(&c);
            self.time_to_met.with_label_values(&c);
            self.at_risk.with_label_values(&c);
            self.breached.with_label_values(&c);
        }
        for c in combos(&[&On::ALL.map(On::as_str), &[timers.as_slice(), &["none"]].concat()]) {
            self.escalations.with_label_values(&c);
        }
        for c in combos(&[&CHANNELS.map(Channel::as_str), &AttemptOutcome::ALL.map(AttemptOutcome::as_str)]) {
            self.notifications.with_label_values(&c);
        }
        for s in InspectionStatus::FINISHED {
            self.inspections.with_label_values(&[s.as_str()]);
        }
        for c in combos(&[&SCORES, &tiers]) {
            self.ratings.with_label_values(&c);
        }
        for o in crate::domain::kb::KbOutcome::ALL {
            self.kb.with_label_values(&[o.as_str()]);
        }
        for c in combos(&[&levels, &open_statuses()]) {
            self.tickets_open.with_label_values(&c);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::with_capacity(64 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    /// One served request. `route` is the matched pattern (never the raw path).
    pub fn http_request(&self, route: &str, method: &str, status: u16, secs: f64) {
        let code = status.to_string();
        self.http_requests.with_label_values(&[route, method, code.as_str()]).inc();
        self.http_duration.with_label_values(&[route, method]).observe(secs);
    }

    /// One delivery attempt's outcome.
    pub fn notification(&self, channel: Channel, outcome: AttemptOutcome) {
        if CHANNELS.contains(&channel) {
            self.notifications.with_label_values(&[channel.as_str(), outcome.as_str()]).inc();
        }
    }

    /// An inspection finished with `status`.
    pub fn inspection(&self, status: InspectionStatus) {
        if InspectionStatus::FINISHED.contains(&status) {
            self.inspections.with_label_values(&[status.as_str()]).inc();
        }
    }

    /// A satisfaction rating given.
    pub fn rating(&self, score: u8, tier: Tier) {
        if let Some(s) = SCORES.get(usize::from(score).wrapping_sub(1)) {
            self.ratings.with_label_values(&[s, tier.as_str()]).inc();
        }
    }

    /// Knowledge-base suggestions or articles with `outcome`.
    pub fn kb(&self, outcome: crate::domain::kb::KbOutcome, n: u64) {
        self.kb.with_label_values(&[outcome.as_str()]).inc_by(n);
    }

    pub fn set_config_mismatch(&self, mismatch: bool) {
        self.config_mismatch.set(i64::from(mismatch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_registry_exports_every_fixed_combination_at_zero() {
        let m = Metrics::new("1.2.3").expect("registry");
        let text = m.render().expect("render");
        assert!(text.contains(r#"opsline_tickets_opened_total{level="IV",source="integration",tier="vip"} 0"#));
        assert!(text.contains(
            r#"opsline_sla_timers_finished_total{level="II",outcome="cancelled",tier="standard",timer="plan"} 0"#
        ));
        assert!(text.contains(r#"opsline_escalations_total{on="flapping",timer="none"} 0"#));
        assert!(text.contains(r#"opsline_tickets_open{level="I",status="waiting_customer"} 0"#));
        assert!(text.contains(r#"opsline_build_info{version="1.2.3"} 1"#));
        assert!(text.contains(r#"opsline_sla_time_to_met_seconds_bucket{level="III",timer="resolution",le="+Inf"} 0"#));
        let finished = text.lines().filter(|l| l.starts_with("opsline_sla_timers_finished_total{")).count();
        assert_eq!(finished, Level::ALL.len() * TimerKind::ALL.len() * Tier::ALL.len() * Outcome::ALL.len());
    }

    #[test]
    fn every_variant_of_a_labelled_enumeration_is_exported_from_the_start() {
        use crate::domain::{sla, ticket};
        let text = Metrics::new("1.2.3").expect("registry").render().expect("render");
        let mut missing = Vec::new();
        let mut expect = |series: String| {
            if !text.contains(&format!("{series} 0\n")) {
                missing.push(series);
            }
        };
        for (level, tier) in Level::ALL.into_iter().zip(Tier::ALL.into_iter().cycle()) {
            for source in ticket::Source::ALL {
                expect(format!(r#"opsline_tickets_opened_total{{level="{level}",source="{source}",tier="{tier}"}}"#));
            }
            for outcome in sla::Outcome::ALL {
                expect(format!(
                    r#"opsline_sla_timers_finished_total{{level="{level}",outcome="{outcome}",tier="{tier}",timer="plan"}}"#
                ));
            }
            for status in ticket::Status::UNRESOLVED {
                expect(format!(r#"opsline_tickets_open{{level="{level}",status="{status}"}}"#));
            }
        }
        for on in On::ALL {
            for timer in sla::TimerKind::ALL.map(sla::TimerKind::as_str).into_iter().chain(["none"]) {
                expect(format!(r#"opsline_escalations_total{{on="{}",timer="{timer}"}}"#, on.as_str()));
            }
        }
        assert!(missing.is_empty(), "not exported at 0: {missing:#?}");
    }
}
