//! Who is calling: the customers and contacts matching what a hotline agent types (part of a
//! name, an e-mail address, phone digits), or the contacts of one customer. Each answer is a few
//! bounded queries, whatever the number of customers.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::error::Result;
use crate::domain::customer::Tier;
use crate::persistence::entities::{contact, customer};
use crate::persistence::like::containing;
use crate::state::AppState;

/// How many of each kind one lookup answers.
const MATCHES: u64 = 10;
/// How many contacts of one customer are listed.
const CONTACTS_OF_ONE: u64 = 200;

#[derive(Debug, Clone, Serialize)]
pub struct CustomerMatch {
    pub id: i64,
    pub name: String,
    pub tier: Tier,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactMatch {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub customer_id: i64,
    /// The customer's name.
    pub customer: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Callers {
    pub customers: Vec<CustomerMatch>,
    pub contacts: Vec<ContactMatch>,
}

/// The active contacts of one customer, by name.
pub async fn contacts_of(state: &AppState, customer_id: i64) -> Result<Callers> {
    let contacts = contact::Entity::find()
        .filter(contact::Column::CustomerId.eq(customer_id))
        .filter(contact::Column::Active.eq(true))
        .order_by_asc(contact::Column::Name)
        .limit(CONTACTS_OF_ONE)
        .all(&state.db)
        .await?;
    Ok(Callers { customers: vec![], contacts: with_customers(state, contacts).await? })
}

/// Customers whose name, and active contacts whose name, e-mail or phone digits contain `text`
/// (at least two characters).
pub async fn matching(state: &AppState, text: &str) -> Result<Callers> {
    let text = text.trim().to_lowercase();
    if text.chars().count() < 2 || text.len() > 100 {
        return Ok(Callers::default());
    }
    let like = containing(&text);
    let lower = |c: customer::Column| Expr::expr(Func::lower(Expr::col(c)));
    let customers = customer::Entity::find()
        .filter(lower(customer::Column::Name).like(like.clone()))
        .order_by_asc(customer::Column::Name)
        .limit(MATCHES)
        .all(&state.db)
        .await?;
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let mut any = Condition::any()
        .add(Expr::expr(Func::lower(Expr::col(contact::Column::Name))).like(like.clone()))
        .add(contact::Column::EmailLower.like(like));
    if digits.len() >= 3 {
        any = any.add(contact::Column::PhoneDigits.like(format!("%{digits}%")));
    }
    let contacts = contact::Entity::find()
        .filter(any)
        .filter(contact::Column::Active.eq(true))
        .order_by_asc(contact::Column::Name)
        .limit(MATCHES)
        .all(&state.db)
        .await?;
    Ok(Callers {
        customers: customers.into_iter().map(|c| CustomerMatch { id: c.id, name: c.name, tier: c.tier }).collect(),
        contacts: with_customers(state, contacts).await?,
    })
}

/// The contacts with their customers' names, read for those customers only.
async fn with_customers(state: &AppState, contacts: Vec<contact::Model>) -> Result<Vec<ContactMatch>> {
    let mut ids: Vec<i64> = contacts.iter().map(|c| c.customer_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let names: HashMap<i64, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        customer::Entity::find()
            .filter(customer::Column::Id.is_in(ids))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect()
    };
    Ok(contacts
        .into_iter()
        .map(|c| ContactMatch {
            customer: names.get(&c.customer_id).cloned().unwrap_or_default(),
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            customer_id: c.customer_id,
        })
        .collect())
}
