//! Events in the shape of PagerDuty's Events API v2: `trigger`, `acknowledge` and `resolve`
//! by `dedup_key`. Invalid events are described in that API's own error shape.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Alert, Intake, Outcome, acknowledge, fire, resolve_alert};
use crate::services::error::Result;
use crate::state::AppState;

/// A valid event.
#[derive(Debug, Clone)]
pub struct Event {
    pub routing_key: Option<String>,
    pub action: Action,
    pub dedup_key: String,
    pub alert: Option<Alert>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Trigger,
    Acknowledge,
    Resolve,
}

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Checks an event as the Events API does; the errors are its `errors` list.
pub fn parse(body: &Value, key_required: bool) -> std::result::Result<Event, Vec<String>> {
    let mut errors = Vec::new();
    if !body.is_object() {
        return Err(vec!["the event must be a JSON object".into()]);
    }
    let routing_key = text(body, "routing_key").map(str::to_string);
    if key_required && routing_key.as_deref().is_none_or(str::is_empty) {
        errors.push("'routing_key' is missing or blank".into());
    }
    let action = match text(body, "event_action") {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        Some(other) => {
            errors.push(format!("'event_action' is invalid: `{other}` (trigger, acknowledge or resolve)"));
            None
        }
        None => {
            errors.push("'event_action' is missing".into());
            None
        }
    };
    let dedup = text(body, "dedup_key").map(str::to_string);
    match (&dedup, body.get("dedup_key")) {
        (Some(d), _) if d.is_empty() || d.chars().count() > 255 => {
            errors.push("'dedup_key' must have 1–255 characters".into())
        }
        (None, Some(v)) if !v.is_null() => errors.push("'dedup_key' must be a string".into()),
        _ => {}
    }
    if matches!(action, Some(Action::Acknowledge | Action::Resolve)) && dedup.is_none() {
        errors.push("'dedup_key' is required to acknowledge or resolve".into());
    }
    let mut alert = None;
    if action == Some(Action::Trigger) {
        match body.get("payload") {
            Some(p) if p.is_object() => {
                let summary = text(p, "summary").unwrap_or("");
                if summary.trim().is_empty() || summary.chars().count() > 1024 {
                    errors.push("'payload.summary' is required, at most 1024 characters".into());
                }
                let source = text(p, "source").unwrap_or("");
                if source.trim().is_empty() || source.chars().count() > 255 {
                    errors.push("'payload.source' is required, at most 255 characters".into());
                }
                let severity = text(p, "severity").unwrap_or("");
                if !SEVERITIES.contains(&severity) {
                    errors.push("'payload.severity' must be critical, error, warning or info".into());
                }
                let episode = hex::encode(&Sha256::digest(p.to_string().as_bytes())[..16]);
                let mut description = format!("Source: {source}\n");
                for k in ["component", "group", "class", "timestamp"] {
                    if let Some(v) = text(p, k) {
                        description.push_str(&format!("{k}: {v}\n"));
                    }
                }
                if let Some(d) = p.get("custom_details").filter(|d| !d.is_null()) {
                    description
                        .push_str(&format!("\nDetails:\n{}\n", serde_json::to_string_pretty(d).unwrap_or_default()));
                }
                alert = Some(Alert {
                    source: "events",
                    dedup: String::new(),
                    episode,
                    title: summary.to_string(),
                    description,
                    severity: Some(severity.to_string()),
                });
            }
            _ => errors.push("'payload' is required to trigger".into()),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let dedup_key = dedup.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let alert = alert.map(|a| Alert { dedup: dedup_key.clone(), ..a });
    let action = action.ok_or_else(|| vec!["'event_action' is missing".to_string()])?;
    Ok(Event { routing_key, action, dedup_key, alert })
}

pub async fn process(state: &AppState, intake: &Intake, e: &Event, now: DateTime<Utc>) -> Result<Outcome> {
    match (e.action, &e.alert) {
        (Action::Trigger, Some(a)) => fire(state, intake, a, now).await,
        (Action::Trigger, None) => Ok(Outcome::Unchanged(None)),
        (Action::Acknowledge, _) => acknowledge(state, intake, "events", &e.dedup_key, now).await,
        (Action::Resolve, _) => resolve_alert(state, intake, "events", &e.dedup_key, now).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_events_list_every_problem_and_valid_ones_get_a_dedup_key() {
        let errors = parse(&json!({"event_action": "explode", "dedup_key": 7}), true).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let errors = parse(&json!({"routing_key": "k", "event_action": "trigger", "payload": {"summary": ""}}), true)
            .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let errors = parse(&json!({"routing_key": "k", "event_action": "resolve"}), true).unwrap_err();
        assert_eq!(errors, vec!["'dedup_key' is required to acknowledge or resolve".to_string()]);
        let e = parse(
            &json!({"routing_key": "k", "event_action": "trigger",
                    "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"}}),
            true,
        )
        .unwrap();
        assert_eq!(e.dedup_key.len(), 32);
        let a = e.alert.unwrap();
        assert_eq!((a.dedup, a.severity.as_deref(), a.title.as_str()), (e.dedup_key, Some("critical"), "disk full"));
        assert!(
            parse(&json!({"event_action": "resolve", "dedup_key": "x"}), false).is_ok(),
            "no key needed with a token"
        );
    }
}
