//! Alertmanager's webhook payload, version 4. Unknown fields are ignored; the zero `endsAt` of a
//! firing alert is just a string here.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Alert, Intake, Outcome, fire, open_new, resolve_alert, unlinked};
use crate::services::error::{Error, Result};
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub version: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub group_key: Option<String>,
    #[serde(default)]
    pub external_url: Option<String>,
    pub alerts: Vec<AmAlert>,
}

crate::text_enum! {
    /// An alert's state in a notification.
    pub enum AlertStatus ("alert status") {
        Firing = "firing",
        Resolved = "resolved",
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: Option<String>,
    pub fingerprint: String,
}

/// What a payload did, alert by alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Processed {
    pub alerts: Vec<AlertOutcome>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertOutcome {
    pub fingerprint: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

const MAX_ALERTS: usize = 1000;

fn validate(p: &Payload) -> Result<()> {
    if p.version != "4" {
        return Err(Error::invalid(
            "version",
            format!("webhook payload version `{}`; version 4 is understood", p.version),
        ));
    }
    if p.alerts.len() > MAX_ALERTS {
        return Err(Error::invalid("alerts", format!("at most {MAX_ALERTS} alerts per notification")));
    }
    for (i, a) in p.alerts.iter().enumerate() {
        if a.fingerprint.trim().is_empty() || a.fingerprint.len() > 255 {
            return Err(Error::invalid(&format!("alerts[{i}].fingerprint"), "1–255 characters"));
        }
        if AlertStatus::parse(&a.status).is_none() {
            return Err(Error::invalid(&format!("alerts[{i}].status"), "`firing` or `resolved`"));
        }
    }
    Ok(())
}

fn as_alert(a: &AmAlert, external_url: Option<&str>) -> Alert {
    let name = a.labels.get("alertname").map_or("alert", String::as_str);
    let summary = a.annotations.get("summary").or_else(|| a.annotations.get("title"));
    let title = match (summary, a.labels.get("instance")) {
        (Some(s), _) => s.clone(),
        (None, Some(i)) => format!("{name} on {i}"),
        (None, None) => name.to_string(),
    };
    let mut description = String::new();
    if let Some(d) = a.annotations.get("description").or_else(|| a.annotations.get("message")) {
        description.push_str(d);
        description.push_str("\n\n");
    }
    description.push_str("Labels:\n");
    for (k, v) in &a.labels {
        description.push_str(&format!("  {k} = {v}\n"));
    }
    if let Some(u) = a.generator_url.as_deref().filter(|u| !u.is_empty()) {
        description.push_str(&format!("\nSource: {u}\n"));
    }
    if let Some(u) = external_url.filter(|u| !u.is_empty()) {
        description.push_str(&format!("Alertmanager: {u}\n"));
    }
    Alert {
        source: "alertmanager",
        dedup: a.fingerprint.clone(),
        episode: a.starts_at.clone().unwrap_or_default().chars().take(64).collect(),
        title,
        description,
        severity: a.labels.get("severity").cloned(),
    }
}

/// New alerts' tickets are opened this many to a transaction…
const OPEN_BATCH: usize = 50;
/// …and this many transactions at once (PostgreSQL).
const OPEN_PARALLEL: usize = 4;

/// Every alert of the notification: firing ones open or add to tickets, resolved ones resolve. A
/// whole notification sent again changes nothing. New firing alerts — a storm — are opened in
/// batches, one transaction each, several at once on PostgreSQL (each alert still linked by its
/// fingerprint, so never opened twice); the others, and a batch that raced another request, go
/// one at a time.
pub async fn process(state: &AppState, intake: &Intake, p: &Payload, now: DateTime<Utc>) -> Result<Processed> {
    validate(p)?;
    let alerts: Vec<Alert> = p.alerts.iter().map(|a| as_alert(a, p.external_url.as_deref())).collect();
    let firing = |i: usize| AlertStatus::parse(&p.alerts[i].status) == Some(AlertStatus::Firing);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; alerts.len()];
    // A fingerprint seen more than once in the notification goes the one-at-a-time way.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for a in &p.alerts {
        *seen.entry(a.fingerprint.as_str()).or_default() += 1;
    }
    let candidates: Vec<&str> = (0..alerts.len())
        .filter(|&i| firing(i) && seen[p.alerts[i].fingerprint.as_str()] == 1)
        .map(|i| alerts[i].dedup.as_str())
        .collect();
    let new: HashSet<String> = unlinked(state, intake, "alertmanager", &candidates).await?.into_iter().collect();
    let fresh: Vec<usize> = (0..alerts.len()).filter(|&i| firing(i) && new.contains(&alerts[i].dedup)).collect();
    // Batches touch different alerts: on PostgreSQL several commit at once (SQLite has one writer).
    let parallel = if state.backend() == sea_orm::DatabaseBackend::Postgres { OPEN_PARALLEL } else { 1 };
    let opened: Vec<(&[usize], Option<Vec<i64>>)> = futures_util::stream::iter(fresh.chunks(OPEN_BATCH))
        .map(|chunk| {
            let batch: Vec<&Alert> = chunk.iter().map(|&i| &alerts[i]).collect();
            async move { Ok::<_, Error>((chunk, open_new(state, intake, &batch, now).await?)) }
        })
        .buffered(parallel)
        .try_collect()
        .await?;
    for (chunk, ids) in opened {
        for (&i, id) in chunk.iter().zip(ids.into_iter().flatten()) {
            outcomes[i] = Some(Outcome::Opened(id));
        }
    }
    let mut out = Vec::with_capacity(alerts.len());
    for (i, (a, alert)) in p.alerts.iter().zip(&alerts).enumerate() {
        let outcome = match outcomes[i] {
            Some(o) => o,
            None if firing(i) => fire(state, intake, alert, now).await?,
            None => resolve_alert(state, intake, "alertmanager", &a.fingerprint, now).await?,
        };
        out.push(AlertOutcome { fingerprint: a.fingerprint.clone(), outcome });
    }
    Ok(Processed { alerts: out })
}
