//! Integration keys: one per customer and kind, returned once and stored hashed; and what a
//! request's credential (a key, or a lead's token with `?customer_id=`) makes of an intake.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait, TryIntoModel,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::super::audit;
use super::super::auth::{Principal, generate_key, secret_matches, split_key};
use super::super::error::{Error, Result};
use crate::domain::actor::Actor;
use crate::domain::level::Level;
use crate::domain::ticket::Role;
use crate::persistence::entities::{customer, integration};
use crate::state::AppState;

/// Integration keys start with this, API tokens with `opl_`.
pub const KEY_PREFIX: &str = "oik_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Alertmanager,
    Events,
    Email,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alertmanager => "alertmanager",
            Kind::Events => "events",
            Kind::Email => "email",
        }
    }
}

/// The severity names PagerDuty and most Alertmanager setups use, to levels.
fn default_severities() -> BTreeMap<String, Level> {
    BTreeMap::from([
        ("critical".to_string(), Level::I),
        ("error".to_string(), Level::II),
        ("warning".to_string(), Level::III),
        ("info".to_string(), Level::IV),
    ])
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    pub kind: Kind,
    /// Severity (Alertmanager's `severity` label, events' `payload.severity`) → level; default
    /// critical I, error II, warning III, info IV.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub severity_levels: Option<BTreeMap<String, Level>>,
    /// The level when the severity is missing or unknown; default III.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "III", pattern = "^([Ii]|[Ii][Ii]|[Ii][Ii][Ii]|[Ii][Vv])$")]
    pub default_level: Option<Level>,
    /// Resolve the ticket when its alert resolves.
    #[serde(default)]
    pub auto_resolve: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: i64,
    pub customer_id: i64,
    pub kind: Kind,
    #[schema(value_type = BTreeMap<String, String>)]
    pub severity_levels: BTreeMap<String, Level>,
    #[schema(value_type = String, example = "III")]
    pub default_level: Level,
    pub auto_resolve: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The key, shown once when created; store it in the sender's configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl IntegrationView {
    fn of(m: integration::Model, key: Option<String>) -> Result<Self> {
        Ok(IntegrationView {
            id: m.id,
            customer_id: m.customer_id,
            kind: serde_json::from_value(json!(m.kind)).map_err(|e| Error::Internal(e.to_string()))?,
            severity_levels: serde_json::from_str(&m.severity_levels).map_err(|e| Error::Internal(e.to_string()))?,
            default_level: m.default_level,
            auto_resolve: m.auto_resolve,
            created_at: m.created_at,
            updated_at: m.updated_at,
            key,
        })
    }
}

/// Creates the customer's integration of `kind`, or replaces it: a new key (the old one stops
/// working at once) and the given settings. Audited.
pub async fn create(
    state: &AppState,
    by: &Principal,
    customer_id: i64,
    input: NewIntegration,
    now: DateTime<Utc>,
) -> Result<IntegrationView> {
    let severities = input.severity_levels.unwrap_or_else(default_severities);
    if severities.len() > 32 {
        return Err(Error::invalid("severity_levels", "at most 32 severities"));
    }
    if let Some(bad) = severities.keys().find(|k| k.trim().is_empty() || k.chars().count() > 32) {
        return Err(Error::invalid("severity_levels", format!("`{bad}`: severity names have 1–32 characters")));
    }
    let severities: BTreeMap<String, Level> = severities.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
    let level = input.default_level.unwrap_or(DEFAULT_LEVEL);
    let txn = state.db.begin().await?;
    customer::Entity::find_by_id(customer_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("customer_not_found", "customer"))?;
    let key = generate_key(KEY_PREFIX);
    let existing = integration::Entity::find()
        .filter(integration::Column::CustomerId.eq(customer_id))
        .filter(integration::Column::Kind.eq(input.kind.as_str()))
        .one(&txn)
        .await?;
    let replaced = existing.is_some();
    let mut am = match existing {
        Some(m) => m.into_active_model(),
        None => integration::ActiveModel {
            customer_id: Set(customer_id),
            kind: Set(input.kind.as_str().into()),
            created_at: Set(now),
            ..Default::default()
        },
    };
    am.public_id = Set(key.public_id.clone());
    am.secret_hash = Set(key.secret_hash.clone());
    am.severity_levels = Set(serde_json::to_string(&severities).map_err(|e| Error::Internal(e.to_string()))?);
    am.default_level = Set(level);
    am.auto_resolve = Set(input.auto_resolve);
    am.updated_at = Set(now);
    let saved = am.save(&txn).await?.try_into_model()?;
    audit::record(
        &txn,
        by,
        if replaced { "integration.replaced" } else { "integration.created" },
        audit::Target { kind: "integration", id: Some(saved.id) },
        json!({"customer_id": customer_id, "kind": input.kind, "default_level": level.to_string(), "auto_resolve": input.auto_resolve}),
        now,
    )
    .await?;
    txn.commit().await?;
    IntegrationView::of(saved, Some(key.token))
}

pub async fn list(state: &AppState, customer_id: i64) -> Result<Vec<IntegrationView>> {
    customer::Entity::find_by_id(customer_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("customer_not_found", "customer"))?;
    integration::Entity::find()
        .filter(integration::Column::CustomerId.eq(customer_id))
        .order_by_asc(integration::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|m| IntegrationView::of(m, None))
        .collect()
}

/// How a request to an intake endpoint identifies itself.
pub enum Credential<'a> {
    /// An integration key (`oik_…`).
    Key(&'a str),
    /// A lead or admin token naming the customer.
    Staff { principal: &'a Principal, customer_id: i64 },
}

/// The level of an alert whose severity names none.
pub const DEFAULT_LEVEL: Level = Level::III;

/// What applies to one intake request: the customer and its integration's settings.
#[derive(Debug, Clone)]
pub struct Intake {
    pub customer: customer::Model,
    pub severity_levels: BTreeMap<String, Level>,
    pub default_level: Level,
    pub auto_resolve: bool,
    /// Who acts on tickets for this intake: Opsline, named for the kind (and the staff member
    /// who sent with a token).
    pub actor: Actor,
}

impl Intake {
    /// The level for a severity (case-insensitive); the default for none or an unknown one.
    pub fn level_for(&self, severity: Option<&str>) -> Level {
        severity.and_then(|s| self.severity_levels.get(&s.trim().to_lowercase())).copied().unwrap_or(self.default_level)
    }
}

/// Resolves the credential for an intake of `kind`. A key of another kind, an unknown or wrong
/// key, and a token below lead are refused alike (401, or 403 for a too-low role).
pub async fn resolve(state: &AppState, kind: Kind, cred: Credential<'_>) -> Result<Intake> {
    let denied = || Error::Unauthorized(format!("a valid `{}` integration key is required", kind.as_str()));
    let (row, customer_id, by) = match cred {
        Credential::Key(key) => {
            let (public_id, secret) = split_key(KEY_PREFIX, key).ok_or_else(denied)?;
            let row = integration::Entity::find()
                .filter(integration::Column::PublicId.eq(public_id))
                .one(&state.db)
                .await?
                .filter(|r| secret_matches(secret, &r.secret_hash) && r.kind == kind.as_str())
                .ok_or_else(denied)?;
            let c = row.customer_id;
            (Some(row), c, Actor::system(kind.as_str()))
        }
        Credential::Staff { principal, customer_id } => {
            principal.require(Role::Lead)?;
            let row = integration::Entity::find()
                .filter(integration::Column::CustomerId.eq(customer_id))
                .filter(integration::Column::Kind.eq(kind.as_str()))
                .one(&state.db)
                .await?;
            (row, customer_id, Actor::system(format!("{} ({})", kind.as_str(), principal.name())))
        }
    };
    let customer = customer::Entity::find_by_id(customer_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::invalid("customer_id", format!("no customer with id {customer_id}")))?;
    Ok(match row {
        Some(r) => Intake {
            customer,
            severity_levels: serde_json::from_str(&r.severity_levels).map_err(|e| {
                Error::Internal(format!("integrations, row {}: unreadable `severity_levels`: {e}", r.id))
            })?,
            default_level: r.default_level,
            auto_resolve: r.auto_resolve,
            actor: by,
        },
        None => Intake {
            customer,
            severity_levels: default_severities(),
            default_level: DEFAULT_LEVEL,
            auto_resolve: false,
            actor: by,
        },
    })
}
