//! Customers (with their contract: calendar and SLA policy, defaulted from the tier) and their
//! contacts.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit;

use super::auth::Principal;
use super::error::{Error, OrTaken, Result};
use super::users::{TokenView, insert_token};
use crate::config::valid_name;
use crate::domain::customer::{Language, Tier, phone_digits, slug, valid_email};
use crate::domain::report::ReportSchedule;
use crate::persistence::entities::{contact, customer};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: i64,
    pub name: String,
    pub key: String,
    #[schema(example = "standard")]
    pub tier: String,
    /// The contract: the calendar and SLA policy new timers use.
    pub calendar: String,
    pub sla_policy: String,
    /// The contact who hears what rules send to "the customer" (`contact:customer`) about
    /// tickets without a contact of their own: opened by alerts, events or checks.
    pub primary_contact_id: Option<i64>,
    /// `weekly` (the default), `monthly` or `none`: when service reports are made and mailed.
    #[schema(value_type = String, example = "weekly")]
    pub report_schedule: ReportSchedule,
    /// Who the reports are mailed to; empty: the primary contact.
    pub report_recipients: Vec<String>,
    /// The user a disputed report's ticket is assigned to.
    pub account_lead_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<customer::Model> for CustomerView {
    fn from(c: customer::Model) -> Self {
        let report_recipients = recipients(&c);
        Self {
            id: c.id,
            name: c.name,
            key: c.key,
            tier: c.tier.to_string(),
            calendar: c.calendar,
            sla_policy: c.sla_policy,
            primary_contact_id: c.primary_contact_id,
            report_schedule: c.report_schedule,
            report_recipients,
            account_lead_id: c.account_lead_id,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
    /// Unique slug config files use; derived from the name when absent.
    pub key: Option<String>,
    #[schema(value_type = String, example = "standard", pattern = "^(vip|standard)$")]
    pub tier: Tier,
    pub calendar: Option<String>,
    pub sla_policy: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    pub name: Option<String>,
    /// Changing the tier moves the contract to the tier's defaults unless calendar or policy is
    /// given too.
    #[schema(value_type = Option<String>, pattern = "^(vip|standard)$")]
    pub tier: Option<Tier>,
    pub calendar: Option<String>,
    pub sla_policy: Option<String>,
    /// One of this customer's active contacts; `null` names none.
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<i64>)]
    pub primary_contact_id: Option<Option<i64>>,
    #[schema(value_type = Option<String>, pattern = "^(weekly|monthly|none)$")]
    pub report_schedule: Option<ReportSchedule>,
    /// E-mail addresses (at most 20); empty: the primary contact.
    pub report_recipients: Option<Vec<String>>,
    /// An active staff user; `null` names none.
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<i64>)]
    pub account_lead_id: Option<Option<i64>>,
}

/// The addresses a customer's reports go to (as stored; empty: the primary contact).
pub fn recipients(c: &customer::Model) -> Vec<String> {
    serde_json::from_str(&c.report_recipients).unwrap_or_default()
}

fn check_recipients(list: &[String]) -> Result<String> {
    if list.len() > 20 {
        return Err(Error::invalid("report_recipients", "at most 20 addresses"));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let a = a.trim().to_lowercase();
        if !valid_email(&a) {
            return Err(Error::invalid(&format!("report_recipients[{i}]"), format!("`{a}` is not an e-mail address")));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    serde_json::to_string(&out).map_err(Error::internal)
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid("name", "1–200 characters"));
    }
    Ok(())
}

fn check_contract(state: &AppState, calendar: &str, policy: &str) -> Result<()> {
    if !state.versions.has_calendar(calendar) {
        return Err(Error::invalid("calendar", format!("no calendar named `{calendar}` is configured")));
    }
    if !state.versions.has_policy(policy) {
        return Err(Error::invalid("sla_policy", format!("no SLA policy named `{policy}` is configured")));
    }
    Ok(())
}

pub async fn create(state: &AppState, by: &Principal, input: NewCustomer, now: DateTime<Utc>) -> Result<CustomerView> {
    check_name(&input.name)?;
    let defaults = state.config.contract_for_tier(input.tier);
    let calendar = input.calendar.clone().unwrap_or_else(|| defaults.calendar.clone());
    let policy = input.sla_policy.clone().unwrap_or_else(|| defaults.sla_policy.clone());
    check_contract(state, &calendar, &policy)?;
    let txn = state.db.begin().await?;
    let key = match input.key {
        Some(k) => {
            if !valid_name(&k) || k.len() > 64 {
                return Err(Error::invalid("key", "a key matches [a-z0-9][a-z0-9_-]* (at most 64 characters)"));
            }
            k
        }
        None => unique_key(&txn, &slug(&input.name)).await?,
    };
    let c = customer::ActiveModel {
        name: Set(input.name.trim().to_string()),
        key: Set(key.clone()),
        tier: Set(input.tier),
        calendar: Set(calendar),
        sla_policy: Set(policy),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .or_taken(|| Error::conflict("customer_key_taken", format!("a customer with key `{key}` exists")))?;
    audit::record(
        &txn,
        by,
        "customer.created",
        audit::Target { kind: "customer", id: Some(c.id) },
        json!({"key": c.key, "tier": c.tier}),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(c.into())
}

async fn unique_key(db: &impl ConnectionTrait, base: &str) -> Result<String> {
    let taken: Vec<String> = customer::Entity::find()
        .filter(customer::Column::Key.starts_with(base))
        .select_only()
        .column(customer::Column::Key)
        .into_tuple()
        .all(db)
        .await?;
    if !taken.iter().any(|k| k == base) {
        return Ok(base.to_string());
    }
    (2..).map(|n| format!("{base}-{n}")).find(|k| !taken.contains(k)).ok_or_else(|| Error::Internal("no key".into()))
}

pub async fn list(state: &AppState, q: Option<&str>) -> Result<Vec<CustomerView>> {
    let mut query = customer::Entity::find().order_by_asc(customer::Column::Name).limit(500);
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        query = query.filter(
            Condition::any()
                .add(customer::Column::Name.contains(q))
                .add(customer::Column::Key.contains(q.to_lowercase())),
        );
    }
    Ok(query.all(&state.db).await?.into_iter().map(Into::into).collect())
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<customer::Model> {
    customer::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::not_found("customer_not_found", "customer"))
}

pub async fn get(state: &AppState, id: i64) -> Result<CustomerView> {
    Ok(find(&state.db, id).await?.into())
}

/// Changes a contract or name. Running timers keep the versions they started on.
pub async fn patch(
    state: &AppState,
    by: &Principal,
    id: i64,
    p: CustomerPatch,
    now: DateTime<Utc>,
) -> Result<CustomerView> {
    if let Some(n) = &p.name {
        check_name(n)?;
    }
    let txn = state.db.begin().await?;
    let c = find(&txn, id).await?;
    let mut calendar = c.calendar.clone();
    let mut policy = c.sla_policy.clone();
    if let Some(t) = p.tier {
        let d = state.config.contract_for_tier(t);
        calendar = d.calendar.clone();
        policy = d.sla_policy.clone();
    }
    if let Some(cal) = &p.calendar {
        calendar = cal.clone();
    }
    if let Some(pol) = &p.sla_policy {
        policy = pol.clone();
    }
    check_contract(state, &calendar, &policy)?;
    if let Some(Some(contact_id)) = p.primary_contact_id {
        let own = contact::Entity::find_by_id(contact_id).one(&txn).await?;
        if !own.is_some_and(|k| k.customer_id == c.id && k.active) {
            return Err(Error::invalid("primary_contact_id", "not an active contact of this customer"));
        }
    }
    let recipients_json = p.report_recipients.as_deref().map(check_recipients).transpose()?;
    if let Some(Some(lead)) = p.account_lead_id {
        let user = crate::persistence::entities::user::Entity::find_by_id(lead).one(&txn).await?;
        if !user.is_some_and(|u| u.active) {
            return Err(Error::invalid("account_lead_id", "not an active user"));
        }
    }
    let before = json!({"tier": c.tier, "calendar": c.calendar, "sla_policy": c.sla_policy, "primary_contact_id": c.primary_contact_id,
        "report_schedule": c.report_schedule, "report_recipients": recipients(&c), "account_lead_id": c.account_lead_id});
    let mut am: customer::ActiveModel = c.into();
    if let Some(s) = p.report_schedule {
        am.report_schedule = Set(s);
    }
    if let Some(r) = recipients_json {
        am.report_recipients = Set(r);
    }
    if let Some(lead) = p.account_lead_id {
        am.account_lead_id = Set(lead);
    }
    if let Some(primary) = p.primary_contact_id {
        am.primary_contact_id = Set(primary);
    }
    if let Some(n) = p.name {
        am.name = Set(n.trim().to_string());
    }
    if let Some(t) = p.tier {
        am.tier = Set(t);
    }
    am.calendar = Set(calendar);
    am.sla_policy = Set(policy);
    am.updated_at = Set(now);
    let c = am.update(&txn).await?;
    let after = json!({"tier": c.tier, "calendar": c.calendar, "sla_policy": c.sla_policy, "primary_contact_id": c.primary_contact_id,
        "report_schedule": c.report_schedule, "report_recipients": recipients(&c), "account_lead_id": c.account_lead_id});
    audit::record(
        &txn,
        by,
        "customer.updated",
        audit::Target { kind: "customer", id: Some(c.id) },
        json!({"before": before, "after": after}),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(c.into())
}

// ---- contacts ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    #[schema(example = "zh-CN")]
    pub language: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// The contact's API token, present once in the answer that created the contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl ContactView {
    pub fn of(c: contact::Model, token: Option<TokenView>) -> Self {
        Self {
            id: c.id,
            customer_id: c.customer_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            language: c.language,
            active: c.active,
            created_at: c.created_at,
            token: token.map(|t| t.token),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    #[schema(value_type = Option<String>, example = "zh-CN", pattern = "^(zh-CN|en)$")]
    pub language: Option<Language>,
}

pub async fn list_contacts(state: &AppState, customer_id: i64) -> Result<Vec<ContactView>> {
    find(&state.db, customer_id).await?;
    Ok(contact::Entity::find()
        .filter(contact::Column::CustomerId.eq(customer_id))
        .order_by_asc(contact::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| ContactView::of(c, None))
        .collect())
}

pub async fn create_contact(
    state: &AppState,
    by: &Principal,
    customer_id: i64,
    input: NewContact,
    now: DateTime<Utc>,
) -> Result<ContactView> {
    check_name(&input.name)?;
    let email = input.email.trim().to_string();
    if !valid_email(&email) {
        return Err(Error::invalid("email", "not an e-mail address"));
    }
    if let Some(p) = &input.phone
        && (p.chars().count() > 64 || phone_digits(p).is_empty())
    {
        return Err(Error::invalid("phone", "a phone number with digits, at most 64 characters"));
    }
    let txn = state.db.begin().await?;
    find(&txn, customer_id).await?;
    let c = contact::ActiveModel {
        customer_id: Set(customer_id),
        name: Set(input.name.trim().to_string()),
        email_lower: Set(email.to_lowercase()),
        email: Set(email.clone()),
        phone: Set(input.phone.clone()),
        phone_digits: Set(input.phone.as_deref().map(phone_digits)),
        language: Set(input.language.unwrap_or(Language::ZhCn).as_str().into()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .or_taken(|| {
        let message = format!("a contact with e-mail `{email}` exists (e-mail addresses are unique across customers)");
        Error::conflict("contact_email_taken", message)
    })?;
    let token = insert_token(&txn, &format!("contact {}", c.email), None, Some(c.id), None, now).await?;
    audit::record(
        &txn,
        by,
        "contact.created",
        audit::Target { kind: "contact", id: Some(c.id) },
        json!({"customer_id": customer_id}),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(ContactView::of(c, Some(token)))
}
