//! Tickets: opening them ([`open`]), changing them — every change, by anyone, through
//! [`change`] — and reading them.

mod apply;
mod attachments;
mod change;
mod comments;
mod log;
mod open;
mod public;
mod query;
mod seen_by;
mod timer_effects;
mod view;
mod visit_apply;
mod work;

pub use attachments::{AttachmentContent, AttachmentView, add_attachment, attachment_content, list_attachments};
pub use change::{ATTEMPTS, ChangeRequest, Changed, TicketRef, change};
pub use comments::{CommentView, NewComment, add_comment, list_comments};
pub use open::{NewTicket, Opened, open};
pub use public::{PublicIncident, public_incidents, set_public_title};
pub use query::{AssigneeFilter, EventLog, EventView, ListQuery, Page, Sort, get, list, list_events, timer_views};
pub use view::{ClassificationView, ExplainView, SlaSet, StepView, TicketView, TimerView, timer_view};

pub(crate) use change::{Also, change_with, load_visible};
pub(crate) use log::{Entry, write as write_log};
pub(crate) use open::{open_all, open_with};
pub(crate) use visit_apply::HOLDING;
pub(crate) use work::Work;

/// `42` or `INC-000042` (any case).
pub fn parse_ref(r: &str) -> Option<i64> {
    let digits = r.strip_prefix("INC-").or_else(|| r.strip_prefix("inc-")).unwrap_or(r);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|id| *id > 0)
}

pub fn number_for(id: i64) -> String {
    format!("INC-{id:06}")
}
