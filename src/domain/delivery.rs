//! The outbox's vocabulary: what a queued message is, which channel carries it, and where its
//! delivery stands.

crate::text_enum! {
    /// Where a queued message's delivery stands.
    pub enum DeliveryStatus ("delivery status") {
        Pending = "pending",
        Delivered = "delivered",
        /// Given up: a permanent refusal, retries exhausted, or nobody to send it to.
        Dead = "dead",
        /// Folded into a digest to the same address.
        Folded = "folded",
    }
}

crate::text_enum! {
    /// How a message leaves Opsline.
    pub enum Channel ("channel") {
        Webhook = "webhook",
        Email = "email",
        /// A rule's target that named nobody: recorded as a dead letter, never sent.
        None = "none",
    }
}

crate::text_enum! {
    /// What a queued message is.
    pub enum MessageKind ("message kind") {
        /// An escalation or a ticket's event, through the rules.
        Notification = "notification",
        /// Mails folded within a minute, sent as one.
        Digest = "digest",
        /// An escalation was acknowledged (to the webhooks that heard of it).
        Acknowledged = "acknowledged",
        /// A portal sign-in or set-password link for a contact.
        PortalLink = "portal_link",
        /// A customer's scheduled service report.
        Report = "report",
        /// A closed ticket's satisfaction rating request to its contact.
        Rating = "rating",
        /// A service report unanswered past `reports.ack_within` (a rule's mail or webhook).
        ReportUnacknowledged = "report_unacknowledged",
    }
}

/// A new outbox row's id, written once with the row and kept across its retries: a UUIDv7
/// (a millisecond timestamp and 74 random bits), so that no two rows of any installations share
/// one. Webhooks carry it as `webhook-id`, mails as their `Message-ID`.
pub fn new_message_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The thread root of every mail about one ticket: the ticket's id and this installation's
/// random id, so that two installations' tickets with the same id never share a thread.
pub fn thread_id(ticket_id: i64, installation: &str, domain: &str) -> String {
    format!("ticket-{ticket_id}.{installation}@{domain}")
}

/// The ticket a thread id (with or without angle brackets) names, when it is this installation's
/// — or of the form Opsline wrote before installations had ids (`ticket-N@opsline`).
pub fn thread_ticket(id: &str, installation: &str) -> Option<i64> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = id.strip_prefix("ticket-")?.split_once('@')?;
    match local.split_once('.') {
        Some((n, inst)) if inst.eq_ignore_ascii_case(installation) => n.parse().ok(),
        Some(_) => None,
        None if domain == "opsline" => local.parse().ok(),
        None => None,
    }
}

/// The wait before retry number `attempt` (1-based), in milliseconds: the schedule's entry
/// (seconds) spread by ±`jitter_percent` at millisecond resolution, so that retries of a burst do
/// not arrive together even for short waits; at least a second. A receiver's `Retry-After`
/// (seconds) counts within [the scheduled wait, ten times it]. `None` when the schedule is over.
pub fn retry_wait_ms(
    schedule_secs: &[i64],
    attempt: i32,
    jitter_percent: u32,
    retry_after: Option<i64>,
    rng: &mut impl rand::Rng,
) -> Option<i64> {
    let base = schedule_secs.get(usize::try_from(attempt - 1).unwrap_or(0))?.saturating_mul(1000);
    if let Some(ra) = retry_after {
        return Some(ra.saturating_mul(1000).clamp(base, base.saturating_mul(10)));
    }
    let spread = base * i64::from(jitter_percent) / 100;
    let jitter = if spread > 0 { rng.random_range(-spread..=spread) } else { 0 };
    Some((base + jitter).max(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_waits_spread_by_the_millisecond_even_for_short_waits() {
        let schedule = [2, 4, 60];
        let mut rng = rand::rng();
        for (attempt, base) in [(1, 2000), (2, 4000)] {
            let waits: std::collections::HashSet<i64> =
                (0..200).map(|_| retry_wait_ms(&schedule, attempt, 10, None, &mut rng).unwrap()).collect();
            assert!(waits.iter().all(|w| (base * 9 / 10..=base * 11 / 10).contains(w)), "{waits:?}");
            assert!(waits.len() > 50, "spread over many milliseconds: {}", waits.len());
            assert!(waits.iter().any(|w| w % 1000 != 0));
        }
        assert_eq!(retry_wait_ms(&schedule, 1, 0, None, &mut rng), Some(2000));
        assert_eq!(retry_wait_ms(&schedule, 3, 10, Some(1), &mut rng), Some(60_000), "Retry-After below the wait");
        assert_eq!(retry_wait_ms(&schedule, 1, 10, Some(3600), &mut rng), Some(20_000), "at most ten times it");
        assert_eq!(retry_wait_ms(&schedule, 4, 10, None, &mut rng), None, "the schedule is over");
    }

    #[test]
    fn message_ids_never_repeat_and_thread_ids_are_one_installations() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_message_id("evt")).collect();
        assert_eq!(ids.len(), 10_000);
        let root = thread_id(42, "5f2c9e", "ops.example.com");
        assert_eq!(root, "ticket-42.5f2c9e@ops.example.com");
        assert_eq!(thread_ticket(&format!("<{root}>"), "5f2c9e"), Some(42));
        assert_eq!(thread_ticket(&root, "a0a0a0"), None, "another installation's ticket 42");
        assert_eq!(thread_ticket("<ticket-42@opsline>", "5f2c9e"), Some(42), "mail from before ids");
        assert_eq!(thread_ticket("<ticket-42@example.com>", "5f2c9e"), None);
        assert_eq!(thread_ticket("<ticket-x.5f2c9e@ops.example.com>", "5f2c9e"), None);
    }
}
