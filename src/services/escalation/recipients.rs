//! Who a rule's `notify` target means for one ticket at one instant: addresses and endpoints,
//! with roles, teams, the assignee's fallbacks, the person on duty and the ticket's contact
//! looked up in the database (once per batch for roles); "the customer" of a ticket without a
//! contact is the customer's primary contact.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::super::error::Result;
use crate::domain::escalation::Notify;
use crate::domain::ticket::Role;
use crate::persistence::entities::{contact, customer, team, ticket, user};
use crate::state::AppState;

/// One resolved recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Email { address: String, language: String },
    Webhook(String),
}

/// What the ticket-bound targets mean: for a ticket its assignee, team and contact; for a
/// service report the customer's account lead and primary contact.
#[derive(Debug, Clone, Copy)]
pub struct Whom {
    pub customer_id: i64,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub contact_id: Option<i64>,
}

impl From<&ticket::Model> for Whom {
    fn from(t: &ticket::Model) -> Self {
        Whom { customer_id: t.customer_id, assignee_id: t.assignee_id, team_id: t.team_id, contact_id: t.contact_id }
    }
}

/// Recipient lookups shared by one batch: the same role or team is read once.
#[derive(Default)]
pub struct RecipientCache {
    roles: HashMap<Role, Vec<user::Model>>,
}

impl RecipientCache {
    async fn role(&mut self, db: &impl ConnectionTrait, role: Role) -> Result<Vec<user::Model>> {
        if let Some(u) = self.roles.get(&role) {
            return Ok(u.clone());
        }
        let users = user::Entity::find()
            .filter(user::Column::Role.eq(role.as_str()))
            .filter(user::Column::Active.eq(true))
            .all(db)
            .await?;
        self.roles.insert(role, users.clone());
        Ok(users)
    }

    pub async fn resolve(
        &mut self,
        db: &impl ConnectionTrait,
        state: &AppState,
        target: &Notify,
        t: &Whom,
        at: DateTime<Utc>,
    ) -> Result<Vec<Recipient>> {
        Ok(match target {
            Notify::Email(address) => vec![Recipient::Email { address: address.clone(), language: "zh-CN".into() }],
            Notify::Webhook(name) => vec![Recipient::Webhook(name.clone())],
            Notify::Role(role) => emails(self.role(db, *role).await?),
            Notify::Assignee => {
                if let Some(u) = match t.assignee_id {
                    Some(id) => user::Entity::find_by_id(id).one(db).await?.filter(|u| u.active && u.email.is_some()),
                    None => None,
                } {
                    emails(vec![u])
                } else {
                    let lead = match t.team_id {
                        Some(id) => match team::Entity::find_by_id(id).one(db).await?.and_then(|tm| tm.lead_username) {
                            Some(name) => user::Entity::find().filter(user::Column::Username.eq(name)).one(db).await?,
                            None => None,
                        },
                        None => None,
                    };
                    match lead.filter(|u| u.active && u.email.is_some()) {
                        Some(u) => emails(vec![u]),
                        None => emails(self.role(db, Role::Lead).await?),
                    }
                }
            }
            Notify::Team(name) => {
                let Some(tm) = team::Entity::find().filter(team::Column::Name.eq(name)).one(db).await? else {
                    return Ok(vec![]);
                };
                match tm.email {
                    Some(e) => vec![Recipient::Email { address: e, language: "zh-CN".into() }],
                    None => emails(user::Entity::find().filter(user::Column::TeamId.eq(tm.id)).all(db).await?),
                }
            }
            Notify::Oncall(name) => match state.config.runtime.escalation.on_duty(name, at.timestamp()) {
                Some(username) => {
                    emails(user::Entity::find().filter(user::Column::Username.eq(username)).all(db).await?)
                }
                None => vec![],
            },
            Notify::Contact => {
                // The ticket's own contact; for a ticket without one (opened by an alert, an
                // event or a check), the customer's primary contact.
                let id = match t.contact_id {
                    Some(id) => Some(id),
                    None => {
                        customer::Entity::find_by_id(t.customer_id).one(db).await?.and_then(|c| c.primary_contact_id)
                    }
                };
                match id {
                    Some(id) => contact::Entity::find_by_id(id)
                        .one(db)
                        .await?
                        .filter(|c| c.active && c.customer_id == t.customer_id)
                        .map(|c| vec![Recipient::Email { address: c.email, language: c.language }])
                        .unwrap_or_default(),
                    None => vec![],
                }
            }
        })
    }
}

fn emails(users: Vec<user::Model>) -> Vec<Recipient> {
    users
        .into_iter()
        .filter(|u| u.active)
        .filter_map(|u| u.email.map(|e| Recipient::Email { address: e, language: u.language }))
        .collect()
}
