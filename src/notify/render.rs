//! What a notification says, in the recipient's language (zh-CN or en): subject, plain text and
//! HTML for mail; the JSON body for webhooks is the payload itself.

use serde::{Deserialize, Serialize};

use crate::domain::escalation::On;
use crate::domain::sla::TimerKind;

/// What a notification is about: its `type` on the wire (`sla.breach`, `ticket.opened`, …,
/// `escalation.acknowledged`, `digest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// An escalation or a ticket's event, by the rules.
    Event(On),
    /// An escalation was acknowledged.
    Acknowledged,
    /// Mails folded within a minute, sent as one.
    Digest,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Event(on) => on.webhook_type(),
            Notice::Acknowledged => "escalation.acknowledged",
            Notice::Digest => "digest",
        }
    }

    pub fn parse(s: &str) -> Option<Notice> {
        let event = On::ALL.into_iter().find(|o| o.webhook_type() == s).map(Notice::Event);
        event.or_else(|| [Notice::Acknowledged, Notice::Digest].into_iter().find(|n| n.as_str() == s))
    }
}

impl Serialize for Notice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Notice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Notice::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a notification type")))
    }
}

/// What the outbox stores for one notification; rendered when it is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: Notice,
    /// Stable across retries: the `webhook-id`, and the mail's Message-ID.
    pub id: String,
    pub occurred_at: String,
    pub escalation_id: Option<i64>,
    pub ticket: TicketRef,
    pub timer: Option<TimerKind>,
    pub due_at: Option<String>,
    pub rule: Option<String>,
    pub step: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketRef {
    pub id: i64,
    pub number: String,
    pub level: String,
    pub title: String,
    pub customer: String,
}

fn zh(language: Option<&str>) -> bool {
    language.is_none_or(|l| l == "zh-CN")
}

fn event_words(kind: Notice, timer: Option<TimerKind>, zh: bool) -> String {
    let timer_word = |t: TimerKind| match (t, zh) {
        (TimerKind::Response, true) => "响应",
        (TimerKind::Plan, true) => "故障处理方案",
        (TimerKind::Resolution, true) => "解决",
        (TimerKind::Arrival, true) => "上门到场",
        (TimerKind::Callback, true) => "满意度回访",
        (TimerKind::Response, false) => "response",
        (TimerKind::Plan, false) => "fault-handling plan",
        (TimerKind::Resolution, false) => "resolution",
        (TimerKind::Arrival, false) => "on-site arrival",
        (TimerKind::Callback, false) => "satisfaction callback",
    };
    let t = timer.map(timer_word).unwrap_or_default();
    match (kind, zh) {
        (Notice::Event(On::Warning), true) => format!("{t}时限即将到期"),
        (Notice::Event(On::Warning), false) => format!("{t} deadline approaching"),
        (Notice::Event(On::Breach), true) => format!("{t}已超时"),
        (Notice::Event(On::Breach), false) => format!("{t} deadline breached"),
        (Notice::Acknowledged, true) => "升级已确认".into(),
        (Notice::Acknowledged, false) => "escalation acknowledged".into(),
        (Notice::Event(On::Opened), true) => "工单已受理".into(),
        (Notice::Event(On::Responded), true) => "工程师已响应".into(),
        (Notice::Event(On::Planned), true) => "故障处理方案已提交".into(),
        (Notice::Event(On::Resolved), true) => "故障已解决".into(),
        (Notice::Event(On::Reopened), true) => "工单已重新打开".into(),
        (Notice::Event(On::Closed), true) => "工单已关闭".into(),
        (Notice::Event(On::LevelChanged), true) => "故障级别已变更".into(),
        (Notice::Event(On::EnRoute), true) => "工程师已出发，正在前往现场".into(),
        (Notice::Event(On::EnRoute), false) => "the engineer is on the way to your site".into(),
        (k, _) => k.as_str().trim_start_matches("ticket.").replace('_', " "),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Subject, text and HTML of one notification mail.
pub fn mail(p: &Payload, ticket_url: &str, ack_url: Option<&str>) -> (String, String, String) {
    let zh = zh(p.language.as_deref());
    let what = event_words(p.kind, p.timer, zh);
    let subject = if zh {
        format!("[Opsline] {} {}级 {}", p.ticket.number, p.ticket.level, what)
    } else {
        format!("[Opsline] {} level {}: {}", p.ticket.number, p.ticket.level, what)
    };
    let due = p
        .due_at
        .as_deref()
        .map(|d| if zh { format!("到期时间（UTC）：{d}\n") } else { format!("Due (UTC): {d}\n") })
        .unwrap_or_default();
    let ack_text = ack_url
        .map(|u| if zh { format!("确认此升级：\n{u}\n") } else { format!("Acknowledge this escalation:\n{u}\n") })
        .unwrap_or_default();
    let (customer_l, ticket_l) = if zh { ("客户", "查看工单") } else { ("Customer", "Open the ticket") };
    let text = format!(
        "{what}\n\n{} {}\n{customer_l}: {}\n{due}{ticket_l}:\n{ticket_url}\n{ack_text}",
        p.ticket.number, p.ticket.title, p.ticket.customer
    );
    let ack_html = ack_url
        .map(|u| {
            format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape(u),
                if zh { "确认此升级" } else { "Acknowledge this escalation" }
            )
        })
        .unwrap_or_default();
    let due_html = p
        .due_at
        .as_deref()
        .map(|d| format!("<p>{} {}</p>", if zh { "到期时间（UTC）：" } else { "Due (UTC):" }, escape(d)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html><body><h2>{}</h2><p><strong>{}</strong> {}</p><p>{customer_l}: {}</p>{due_html}<p><a href=\"{}\">{ticket_l}</a></p>{ack_html}</body></html>",
        escape(&what),
        escape(&p.ticket.number),
        escape(&p.ticket.title),
        escape(&p.ticket.customer),
        escape(ticket_url),
    );
    (subject, text, html)
}

/// A digest of notifications folded because one address received too many in a minute.
pub fn digest(items: &[Payload], language: Option<&str>) -> (String, String, String) {
    let zh = zh(language);
    let subject = if zh {
        format!("[Opsline] {} 条通知摘要", items.len())
    } else {
        format!("[Opsline] digest of {} notifications", items.len())
    };
    let mut text = String::new();
    let mut html = String::from("<!doctype html><html><body><ul>");
    for p in items {
        let what = event_words(p.kind, p.timer, zh);
        text.push_str(&format!("- {} {} ({}): {what}\n", p.ticket.number, p.ticket.title, p.ticket.level));
        html.push_str(&format!(
            "<li>{} {} ({}): {}</li>",
            escape(&p.ticket.number),
            escape(&p.ticket.title),
            escape(&p.ticket.level),
            escape(&what)
        ));
    }
    html.push_str("</ul></body></html>");
    (subject, text, html)
}

/// Subject, text and HTML of a portal link mail (sign in, or set a password), in the contact's
/// language.
pub fn portal_link(name: &str, password: bool, language: &str, url: &str, minutes: i64) -> (String, String, String) {
    let zh = zh(Some(language));
    let (subject, action) = match (password, zh) {
        (true, true) => ("[Opsline] 设置客户门户密码", "设置密码"),
        (false, true) => ("[Opsline] 登录客户门户", "登录"),
        (true, false) => ("[Opsline] Set your portal password", "Set your password"),
        (false, false) => ("[Opsline] Sign in to the portal", "Sign in"),
    };
    let note = if zh {
        format!("此链接 {minutes} 分钟内有效，只能使用一次。如果不是您本人申请，请忽略此邮件。")
    } else {
        format!("This link works once, for {minutes} minutes. If you did not ask for it, ignore this mail.")
    };
    let (text, html) = link_body(name, zh, action, url, &note);
    (subject.to_string(), text, html)
}

/// The subject and text part of a service report's mail (its HTML part is the report itself):
/// the period, the compliance, the missed deadlines, and the link to answer when the recipient
/// is the customer's contact.
pub fn report_mail(c: &crate::domain::report::Content, sha256: &str, answer: Option<&str>) -> (String, String) {
    let zh = c.language == crate::domain::customer::Language::ZhCn;
    let p = &c.period;
    let rate = c.overall.map_or_else(|| "–".to_string(), |r| format!("{:.1} %", r * 100.0));
    let opened: u64 = c.opened.iter().map(|o| o.tickets).sum();
    let subject = if zh {
        format!("[Opsline] 服务报告 {} {} – {}", c.customer.name, p.first_day, p.last_day)
    } else {
        format!("[Opsline] Service report {} {} – {}", c.customer.name, p.first_day, p.last_day)
    };
    let mut text = if zh {
        format!(
            "{}：{} – {}（{}）\nSLA 达成率：{rate}\n新建工单：{opened}\n超时：{}\n",
            c.customer.name,
            p.first_day,
            p.last_day,
            p.timezone,
            c.breaches.len()
        )
    } else {
        format!(
            "{}: {} – {} ({})\nSLA compliance: {rate}\nTickets opened: {opened}\nMissed deadlines: {}\n",
            c.customer.name,
            p.first_day,
            p.last_day,
            p.timezone,
            c.breaches.len()
        )
    };
    if let Some(url) = answer {
        text.push_str(&if zh {
            format!("\n请确认本报告或提出异议：\n{url}\n")
        } else {
            format!("\nAcknowledge or dispute this report:\n{url}\n")
        });
    }
    text.push_str(&format!("\nSHA-256: {sha256}\n"));
    (subject, text)
}

/// The text and HTML of a one-time link mail: greeting, the link under `action`, `note`.
fn link_body(name: &str, zh: bool, action: &str, url: &str, note: &str) -> (String, String) {
    let hello = if zh { format!("{name}，您好：") } else { format!("Hello {name},") };
    let text = format!("{hello}\n\n{action}:\n{url}\n\n{note}\n");
    let html = format!(
        "<!doctype html><html><body><p>{}</p><p><a href=\"{}\">{}</a></p><p>{}</p></body></html>",
        escape(&hello),
        escape(url),
        escape(action),
        escape(note)
    );
    (text, html)
}

/// Subject, text and HTML of a link to sign a visit's work order, in the contact's language.
pub fn visit_sign_link(name: &str, ticket: &str, language: &str, url: &str, minutes: i64) -> (String, String, String) {
    let zh = zh(Some(language));
    let (subject, action) = if zh {
        (format!("[Opsline] {ticket} 上门服务工作单待您签字"), "查看并签署工作单")
    } else {
        (format!("[Opsline] {ticket}: please sign the work order of the on-site visit"), "Read and sign the work order")
    };
    let note = if zh {
        format!("此链接 {minutes} 分钟内有效，只能使用一次。")
    } else {
        format!("This link works once, for {minutes} minutes.")
    };
    let (text, html) = link_body(name, zh, action, url, &note);
    (subject, text, html)
}

/// A closed ticket's rating request: subject, text and HTML in the contact's language, with one
/// link per score (`{url}?score=N` opens the rating page with that score chosen).
pub fn rating_mail(
    name: &str,
    ticket: &str,
    title: &str,
    language: &str,
    url: &str,
    until: &str,
) -> (String, String, String) {
    let zh = zh(Some(language));
    let hello = if zh { format!("{name}，您好：") } else { format!("Hello {name},") };
    let (subject, ask, note) = if zh {
        (
            format!("[Opsline] {ticket} 已关闭，请评价我们的服务"),
            format!(
                "您的工单 {ticket}「{title}」已关闭。您对这次服务满意吗？点击一个分数（1 = 很不满意，5 = 很满意）："
            ),
            format!("评价链接有效期至 {until}。"),
        )
    } else {
        (
            format!("[Opsline] {ticket} is closed: how did we do?"),
            format!(
                "Your ticket {ticket} \"{title}\" is closed. How satisfied are you? Click a score (1 = very dissatisfied, 5 = very satisfied):"
            ),
            format!("The rating link works until {until}."),
        )
    };
    let links: Vec<(u8, String)> = (1..=5).map(|s| (s, format!("{url}?score={s}"))).collect();
    let text_links: String = links.iter().map(|(s, l)| format!("{s}: {l}\n")).collect();
    let text = format!("{hello}\n\n{ask}\n\n{text_links}\n{note}\n");
    let html_links: String = links
        .iter()
        .map(|(s, l)| {
            format!("<a href=\"{}\" style=\"padding:6px 12px;margin:2px;border:1px solid #888\">{s}</a> ", escape(l))
        })
        .collect();
    let html = format!(
        "<!doctype html><html><body><p>{}</p><p>{}</p><p>{html_links}</p><p>{}</p></body></html>",
        escape(&hello),
        escape(&ask),
        escape(&note)
    );
    (subject, text, html)
}

/// A report its customer has not answered: subject, text and HTML for a rule's recipient.
pub fn report_unanswered(
    customer: &str,
    first: &str,
    last: &str,
    language: &str,
    url: &str,
) -> (String, String, String) {
    let zh = zh(Some(language));
    let (subject, action, note) = if zh {
        (
            format!("[Opsline] {customer} 的服务报告（{first} – {last}）尚未确认"),
            "查看报告",
            format!(
                "{customer} 的服务报告（{first} – {last}）在规定时间内既未确认也未提出异议（reports.ack_within）。请联系客户。"
            ),
        )
    } else {
        (
            format!("[Opsline] {customer}'s service report ({first} – {last}) is unanswered"),
            "Read the report",
            format!(
                "{customer} neither acknowledged nor disputed the service report of {first} – {last} in time (reports.ack_within). Please follow up."
            ),
        )
    };
    let name = if zh { "您" } else { "there" };
    let (text, html) = link_body(name, zh, action, url, &note);
    (subject, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notification_type_reads_back_as_written_and_no_other_is_read() {
        let all = On::ALL.into_iter().map(Notice::Event).chain([Notice::Acknowledged, Notice::Digest]);
        for n in all {
            let written = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<Notice>(&written).unwrap(), n, "{written}");
        }
        assert_eq!(serde_json::to_string(&Notice::Event(On::Breach)).unwrap(), r#""sla.breach""#);
        assert!(serde_json::from_str::<Notice>(r#""sla.breached""#).is_err());
    }

    #[test]
    fn mail_subjects_carry_number_level_and_timer_in_the_recipients_language() {
        let p = Payload {
            kind: Notice::Event(On::Breach),
            id: "evt_1".into(),
            occurred_at: "2026-10-20T02:10:01Z".into(),
            escalation_id: Some(1),
            ticket: TicketRef {
                id: 1,
                number: "INC-000001".into(),
                level: "I".into(),
                title: "core <down>".into(),
                customer: "ACME".into(),
            },
            timer: Some(TimerKind::Response),
            due_at: Some("2026-10-20T02:10:00Z".into()),
            rule: Some("r".into()),
            step: Some(0),
            acknowledged_by: None,
            language: Some("en".into()),
        };
        let (subject, text, html) = mail(&p, "http://x/console/tickets/1", Some("http://x/ack/t"));
        assert_eq!(subject, "[Opsline] INC-000001 level I: response deadline breached");
        assert!(text.contains("http://x/ack/t"));
        assert!(html.contains("core &lt;down&gt;"));
        let zh = Payload { language: Some("zh-CN".into()), ..p };
        assert!(mail(&zh, "u", None).0.contains("响应已超时"));
    }
}
