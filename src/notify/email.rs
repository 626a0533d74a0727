//! E-mail over SMTP with lettre: plain text and HTML, deterministic `Message-ID`, and every mail
//! about one ticket threaded under the same root.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Attempt, Failure};
use crate::config::settings::EmailSettings;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// A rendered mail.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Without angle brackets.
    pub message_id: String,
    /// The thread root this mail replies to, without angle brackets.
    pub thread: Option<String>,
    /// Files after the text and HTML parts: (file name, MIME type, bytes).
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

impl Mail {
    /// A mail of `rendered` (subject, text, HTML) to `to`, in no thread and without files.
    pub fn new(to: &str, rendered: (String, String, String), message_id: String) -> Self {
        let (subject, text, html) = rendered;
        Mail { to: to.to_string(), subject, text, html, message_id, thread: None, attachments: Vec::new() }
    }

    /// The same mail, as a reply in the thread whose root is `root`.
    pub fn in_thread(self, root: String) -> Self {
        Mail { thread: Some(root), ..self }
    }

    /// The same mail, with these files after its text and HTML parts.
    pub fn with_attachments(self, attachments: Vec<(String, String, Vec<u8>)>) -> Self {
        Mail { attachments, ..self }
    }
}

impl Mailer {
    /// `None` when e-mail is not configured.
    pub fn from_settings(s: &EmailSettings) -> Result<Option<Self>, String> {
        let url = s.smtp_url.expose();
        if url.is_empty() {
            return Ok(None);
        }
        let url = if url.starts_with("smtp://") && !url.contains("tls=") {
            format!("{url}{}tls=opportunistic", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_string()
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(&url).map_err(|e| format!("email.smtp_url: {e}"))?;
        if let (Some(user), Some(pass)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        let transport = builder.timeout(Some(Duration::from_millis(s.timeout_ms))).build();
        let from = s.from.parse::<Mailbox>().map_err(|e| format!("email.from: {e}"))?;
        Ok(Some(Self { transport, from }))
    }

    pub async fn send(&self, mail: &Mail) -> Attempt {
        let to = match mail.to.parse::<Mailbox>() {
            Ok(t) => t,
            Err(e) => return Attempt::failed(Failure::Permanent, None, format!("bad recipient {}: {e}", mail.to)),
        };
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}>", mail.message_id)));
        if let Some(root) = &mail.thread {
            b = b.in_reply_to(format!("<{root}>")).references(format!("<{root}>"));
        }
        let body = MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone());
        let body = if mail.attachments.is_empty() {
            body
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for (name, mime, bytes) in &mail.attachments {
                let Ok(kind) = ContentType::parse(mime) else {
                    return Attempt::failed(Failure::Permanent, None, format!("bad attachment type {mime}"));
                };
                mixed = mixed.singlepart(Attachment::new(name.clone()).body(bytes.clone(), kind));
            }
            mixed
        };
        let msg = match b.multipart(body) {
            Ok(m) => m,
            Err(e) => return Attempt::failed(Failure::Permanent, None, format!("cannot build the message: {e}")),
        };
        match self.transport.send(msg).await {
            Ok(_) => Attempt::ok(None),
            Err(e) if e.is_permanent() => Attempt::failed(Failure::Permanent, None, format!("rejected: {e}")),
            Err(e) => Attempt::failed(Failure::Retry { retry_after: None }, None, format!("SMTP: {e}")),
        }
    }
}
