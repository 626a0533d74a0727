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
    }
}
