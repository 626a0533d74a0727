//! sea-orm entities, one file per table, written by hand to match `migrations/`.

pub mod alert_link;
pub mod api_token;
pub mod attachment;
pub mod audit_entry;
pub mod check;
pub mod check_result;
pub mod check_rollup;
pub mod comment;
pub mod config_snapshot;
pub mod config_version;
pub mod contact;
pub mod contact_link;
pub mod customer;
pub mod delivery_attempt;
pub mod engineer_block;
pub mod escalation;
pub mod escalation_event;
pub mod host_fact;
pub mod idempotency_key;
pub mod inspection;
pub mod installation;
pub mod instance;
pub mod integration;
pub mod kb_article;
pub mod kb_article_source;
pub mod kb_article_version;
pub mod kb_event;
pub mod outbox;
pub mod rating;
pub mod report;
pub mod search_doc;
pub mod sla_timer;
pub mod team;
pub mod ticket;
pub mod ticket_event;
pub mod timer_outcome;
pub mod user;
pub mod visit;
pub mod web_session;

use sea_orm::{EntityTrait, Iterable};

/// Each table's name and column names.
fn tables() -> Vec<(&'static str, Vec<String>)> {
    fn of<E: EntityTrait + Default>() -> (&'static str, Vec<String>) {
        let table = E::default().table_name();
        (table, E::Column::iter().map(|c| sea_orm::IdenStatic::as_str(&c).to_string()).collect())
    }
    vec![
        of::<alert_link::Entity>(),
        of::<api_token::Entity>(),
        of::<attachment::Entity>(),
        of::<audit_entry::Entity>(),
        of::<check::Entity>(),
        of::<check_result::Entity>(),
        of::<check_rollup::Entity>(),
        of::<comment::Entity>(),
        of::<config_snapshot::Entity>(),
        of::<config_version::Entity>(),
        of::<contact::Entity>(),
        of::<contact_link::Entity>(),
        of::<customer::Entity>(),
        of::<delivery_attempt::Entity>(),
        of::<engineer_block::Entity>(),
        of::<escalation::Entity>(),
        of::<escalation_event::Entity>(),
        of::<idempotency_key::Entity>(),
        of::<inspection::Entity>(),
        of::<installation::Entity>(),
        of::<instance::Entity>(),
        of::<integration::Entity>(),
        of::<kb_article::Entity>(),
        of::<kb_article_source::Entity>(),
        of::<kb_article_version::Entity>(),
        of::<kb_event::Entity>(),
        of::<outbox::Entity>(),
        of::<rating::Entity>(),
        of::<report::Entity>(),
        of::<search_doc::Entity>(),
        of::<sla_timer::Entity>(),
        of::<team::Entity>(),
        of::<ticket::Entity>(),
        of::<ticket_event::Entity>(),
        of::<timer_outcome::Entity>(),
        of::<user::Entity>(),
        of::<visit::Entity>(),
        of::<web_session::Entity>(),
    ]
}

/// The table a row with these columns was read from: the one whose columns are exactly these, or
/// else every table that has them all. Used only to name the table in an error.
pub fn table_of(columns: &[String]) -> String {
    let all = tables();
    if let Some((t, _)) =
        all.iter().find(|(_, cols)| cols.len() == columns.len() && columns.iter().all(|c| cols.contains(c)))
    {
        return (*t).to_string();
    }
    let candidates: Vec<&str> =
        all.iter().filter(|(_, cols)| columns.iter().all(|c| cols.contains(c))).map(|(t, _)| *t).collect();
    if candidates.is_empty() { "an unknown table".to_string() } else { candidates.join(" or ") }
}
