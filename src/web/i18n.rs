//! Every string of the pages in Chinese (zh-CN, the default) and English, chosen by the `lang`
//! cookie (the switch) or else `Accept-Language`.

use actix_web::HttpRequest;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Lang {
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub fn of(req: &HttpRequest) -> Lang {
        if let Some(c) = req.cookie("lang") {
            return if c.value() == "en" { Lang::En } else { Lang::ZhCn };
        }
        let accept = req.headers().get("accept-language").and_then(|v| v.to_str().ok()).unwrap_or("");
        // The first language listed that we have wins; quality values are in listed order in practice.
        for part in accept.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::ZhCn;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::ZhCn
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// The page texts of one language, by key.
pub fn texts(lang: Lang) -> std::collections::BTreeMap<&'static str, &'static str> {
    all().map(|(k, zh, en)| (*k, if lang == Lang::En { *en } else { *zh })).collect()
}

/// One text; an unknown key is shown as itself (and a unit test keeps templates and code honest).
pub fn text(lang: Lang, key: &'static str) -> &'static str {
    lookup(lang, key).unwrap_or(key)
}

/// A text by a key made at run time (an event's name), if there is one.
pub fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    all().find(|(k, _, _)| *k == key).map(|(_, zh, en)| if lang == Lang::En { *en } else { *zh })
}

/// Every page text: the general table and the knowledge base's.
fn all() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    TEXTS.iter().chain(super::i18n_kb::KB_TEXTS)
}

const TEXTS: &[(&str, &str, &str)] = &[
    ("app", "Opsline 运维服务台", "Opsline service desk"),
    ("menu", "主菜单", "Main menu"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("username", "用户名", "Username"),
    ("password", "密码", "Password"),
    ("bad_credentials", "用户名或密码错误。", "Wrong username or password."),
    ("bad_contact_credentials", "邮箱或密码错误。", "Wrong e-mail address or password."),
    ("too_many", "尝试次数过多，请稍后再试。", "Too many attempts; try again in a minute."),
    ("expired_form", "表单已过期，请刷新页面后重试。", "The form expired; reload the page and try again."),
    ("staff_sign_in", "员工登录", "Staff sign-in"),
    ("customer_sign_in", "客户登录门户", "Customers: sign in to the portal"),
    ("portal_sign_in", "客户门户登录", "Customer portal sign-in"),
    ("email", "邮箱", "E-mail"),
    ("email_me_link", "通过邮件获取链接", "E-mail me a link"),
    ("link_for", "链接用途", "The link should"),
    ("link_sign_in", "直接登录（一次性）", "sign me in (once)"),
    ("link_password", "设置或重置密码", "let me set or reset my password"),
    ("send_link", "发送链接", "Send the link"),
    (
        "link_sent",
        "如果该邮箱已登记，链接已发出，60 分钟内有效。",
        "If the address is known, a link is on its way; it works for 60 minutes.",
    ),
    ("bad_email", "请输入邮箱地址。", "Enter an e-mail address."),
    ("link_dead", "链接已失效", "This link no longer works"),
    ("link_dead_detail", "链接已使用或已过期，请重新申请。", "It was used already or has expired; ask for a new one."),
    ("set_password", "设置密码", "Set password"),
    ("new_password", "新密码", "New password"),
    ("password_again", "再次输入新密码", "New password again"),
    ("password_rules", "密码至少 10 个字符。", "At least 10 characters."),
    ("passwords_differ", "两次输入的密码不一致。", "The two passwords differ."),
    ("queue", "工单队列", "Queue"),
    ("new_ticket", "新建工单", "New ticket"),
    ("checks", "健康检查", "Checks"),
    ("inspections", "巡检", "Inspections"),
    ("inspection", "巡检", "Inspection"),
    ("notifications", "通知", "Notifications"),
    ("my_tickets", "我的工单", "My tickets"),
    ("number", "工单号", "Ticket"),
    ("ticket", "工单", "Ticket"),
    ("title", "标题", "Title"),
    ("description", "描述", "Description"),
    ("level", "级别", "Level"),
    ("status", "状态", "Status"),
    ("customer", "客户", "Customer"),
    ("contact", "联系人", "Contact"),
    ("team", "团队", "Team"),
    ("assignee", "处理人", "Assignee"),
    ("me", "我", "me"),
    ("nobody", "未分配", "nobody"),
    ("any", "全部", "any"),
    ("any_open", "所有未关闭", "any open"),
    ("search", "搜索", "Search"),
    ("filter", "筛选", "Filter"),
    ("filters", "筛选条件", "Filters"),
    ("response", "响应", "Response"),
    ("plan", "处理方案", "Plan"),
    ("resolution", "解决", "Resolution"),
    ("arrival", "上门到场", "Arrival"),
    ("rt_title", "服务满意度评价", "Rate our service"),
    ("rt_question", "您对这次服务满意吗？", "How satisfied are you with how we handled this ticket?"),
    ("rt_scale", "1 = 很不满意，5 = 很满意", "1 = very dissatisfied, 5 = very satisfied"),
    ("rt_comment", "意见（选填）", "Comment (optional)"),
    ("rt_send", "提交评价", "Send rating"),
    ("rt_until", "评价截止：", "Rating closes:"),
    ("rt_thanks", "感谢您的评价", "Thank you for your rating"),
    ("rt_thanks_detail", "您的评价已记录。", "Your rating is recorded."),
    ("rt_callback", "我们会尽快回访您。", "We will call you back shortly."),
    ("rt_rated", "您已评价过此工单", "You have rated this ticket"),
    ("rt_expired", "评价链接已过期", "This rating link has expired"),
    ("rt_expired_detail", "此工单的评价已于以下时间截止：", "Rating this ticket closed at"),
    ("rt_invalid", "评价链接无效", "This rating link is not valid"),
    (
        "rt_invalid_detail",
        "请使用邮件中的完整链接，或登录客户门户。",
        "Use the whole link from the mail, or sign in to the portal.",
    ),
    ("rt_your_score", "您的评分：", "Your score:"),
    ("callback", "满意度回访", "Callback"),
    ("empty_queue", "没有符合条件的工单。", "No tickets match."),
    ("times_in", "时间按此时区显示：", "Times shown in"),
    ("time_zone", "时区", "Time zone"),
    ("apply", "应用", "Apply"),
    ("language", "English", "中文"),
    ("met", "已达成", "met"),
    ("breached", "已超时", "breached"),
    ("paused", "已暂停", "paused"),
    ("st_open", "待响应", "open"),
    ("st_in_progress", "处理中", "in progress"),
    ("st_waiting_customer", "等待客户", "waiting for customer"),
    ("st_resolved", "已解决", "resolved"),
    ("st_closed", "已关闭", "closed"),
    ("st_cancelled", "已取消", "cancelled"),
    ("caller", "来电客户", "Caller"),
    ("find_caller", "查找客户或联系人", "Find the customer or contact"),
    ("find_hint", "姓名、邮箱或电话号码", "name, e-mail or phone digits"),
    (
        "find_help",
        "边输入边查找；选中后自动填写客户和联系人。",
        "Matches appear as you type; picking one fills in customer and contact.",
    ),
    ("pick_customer", "请选择客户。", "Pick the customer."),
    ("no_contact", "（无联系人）", "(no contact)"),
    ("add_contact", "新增联系人", "Add a contact"),
    ("name", "名称", "Name"),
    ("phone", "电话", "Phone"),
    ("fault", "故障", "Fault"),
    ("use_suggested", "使用建议级别", "use the suggested level"),
    ("attach_files", "附件", "Attach files"),
    ("suggested", "建议级别", "Suggested level"),
    ("quoted", "承诺时限", "Quoted deadlines"),
    ("reported_at", "报障时间", "Reported at"),
    ("save", "保存", "Save"),
    ("save_key", "Ctrl+Enter 保存", "Ctrl+Enter saves"),
    ("classification", "自动分级", "Classification"),
    ("parent", "父事件", "Parent incident"),
    ("children", "子工单", "Child tickets"),
    ("sla_clocks", "SLA 时钟", "SLA clocks"),
    ("why_deadline", "时限是如何计算的", "How this deadline was reached"),
    ("actions", "操作", "Actions"),
    ("act_respond", "响应", "Respond"),
    ("act_plan", "提交处理方案", "Submit plan"),
    ("act_wait_customer", "等待客户", "Wait for customer"),
    ("act_resume", "继续处理", "Resume"),
    ("act_resolve", "解决", "Resolve"),
    ("act_confirm", "确认已解决", "Confirm resolution"),
    ("act_close", "关闭", "Close"),
    ("act_reopen", "重新打开", "Reopen"),
    ("act_cancel", "取消工单", "Cancel ticket"),
    ("act_level", "变更级别", "Change level"),
    ("act_assign", "分派", "Assign"),
    ("act_link", "关联父事件", "Link to parent incident"),
    ("text_respond", "给客户的回复", "Message to the customer"),
    ("text_plan", "故障处理方案", "Fault-handling plan"),
    ("text_resolve", "解决说明", "Resolution"),
    ("text_wait_customer", "等待客户什么", "What we wait for"),
    ("text_reopen", "重新打开的原因", "Why reopen"),
    ("text_cancel", "取消原因", "Why cancel"),
    ("text_level", "变更原因", "Why"),
    ("parent_number", "父事件工单号（留空则取消关联）", "Parent ticket number (empty unlinks)"),
    ("copy_to_children", "同时发送到所有子工单", "Copy to child tickets"),
    ("add_comment", "添加备注", "Add a comment"),
    ("comment", "备注", "Comment"),
    ("internal_note", "内部备注", "Internal note"),
    ("attachment", "附件", "Attachment"),
    ("visibility", "可见范围", "Visible to"),
    ("public_to_customer", "客户可见", "the customer too"),
    ("send", "发送", "Send"),
    ("write_or_attach", "请填写备注或选择文件。", "Write a comment or choose a file."),
    ("status_page", "服务状态", "Service status"),
    ("public_title", "状态页公开标题", "Public title on the status page"),
    (
        "public_title_help",
        "工单未关闭时显示在公开状态页；不要写客户名称。留空则不显示。",
        "Shown on the public status page while the ticket is open; no customer names. Empty hides it.",
    ),
    ("timeline", "时间线", "Timeline"),
    ("step", "第", "step"),
    ("attempts", "次尝试", "attempts"),
    ("name_col", "名称", "Name"),
    ("state", "状态", "State"),
    ("kind", "类型", "Kind"),
    ("last_run", "上次运行", "Last run"),
    ("detail", "详情", "Detail"),
    ("health_up", "正常", "up"),
    ("health_down", "故障", "down"),
    ("health_unknown", "未知", "unknown"),
    ("flapping", "抖动", "flapping"),
    ("no_checks", "没有健康检查。", "No checks."),
    ("run_inspection", "立即巡检", "Run inspection"),
    ("no_inspections", "还没有巡检。", "No inspections yet."),
    ("started", "开始", "Started"),
    ("finished", "结束", "Finished"),
    ("by", "发起人", "By"),
    ("insp_running", "进行中", "running"),
    ("insp_passed", "全部通过", "passed"),
    ("insp_failed", "有故障", "failed"),
    ("insp_inconclusive", "无法判定", "inconclusive"),
    ("progress", "进度", "Progress"),
    ("report", "巡检报告", "Report"),
    ("newly_failing", "新出现的故障", "Newly failing"),
    ("recovered", "已恢复", "Recovered"),
    ("previous", "上次", "Previous"),
    ("past_inspections", "历次巡检", "Past inspections"),
    ("nt_dead", "投递失败", "dead letters"),
    ("nt_pending", "待投递", "pending"),
    ("nt_delivered", "已投递", "delivered"),
    ("nt_folded", "已合并", "folded into a digest"),
    ("attempt_at", "尝试时间", "Attempted"),
    ("outcome", "结果", "Outcome"),
    ("retry", "重新投递", "Retry"),
    ("no_notifications", "没有此类通知。", "No notifications here."),
    ("no_tickets", "还没有工单。", "No tickets yet."),
    ("confirm_title", "故障已解决了吗？", "Is the fault resolved?"),
    (
        "portal_new_help",
        "级别将根据描述自动判断，SLA 时钟随即开始。",
        "The level is classified from your description; the SLA clocks start at once.",
    ),
    ("all_operational", "所有服务运行正常。", "All services are operating normally."),
    ("some_problems", "部分服务出现问题，我们正在处理。", "Some services have problems; we are working on them."),
    ("open_incidents", "当前事件", "Current incidents"),
    ("since", "开始于", "since"),
    ("services", "服务", "Services"),
    ("uptime_90", "近 90 天可用率", "Uptime over 90 days"),
    ("no_public_checks", "没有公开的服务。", "No public services."),
    ("back", "返回", "Back"),
    ("could_not", "无法完成", "That did not work"),
    ("not_found", "找不到该页面或工单。", "No such page or ticket."),
    (
        "changed_meanwhile",
        "工单刚被其他人修改，请刷新后重试。",
        "Someone changed the ticket meanwhile; reload and try again.",
    ),
    ("try_again", "出现错误，请稍后重试。", "Something went wrong; try again shortly."),
    ("too_large", "文件太大。", "The file is too large."),
    ("ev_created", "已创建", "opened"),
    ("ev_responded", "已响应", "responded"),
    ("ev_planned", "已提交处理方案", "plan submitted"),
    ("ev_waiting_customer", "等待客户", "waiting for the customer"),
    ("ev_resumed", "继续处理", "resumed"),
    ("ev_resolved", "已解决", "resolved"),
    ("ev_confirmed", "客户确认已解决", "confirmed by the customer"),
    ("ev_closed", "已关闭", "closed"),
    ("ev_reopened", "已重新打开", "reopened"),
    ("ev_cancelled", "已取消", "cancelled"),
    ("ev_level_changed", "级别已变更", "level changed"),
    ("ev_assigned", "已分派", "assigned"),
    ("ev_linked", "已关联父事件", "linked"),
    ("ev_public_title", "状态页标题", "public title"),
    ("ev_alert_firing", "告警触发", "alert firing"),
    ("ev_alert_resolved", "告警恢复", "alert resolved"),
    ("ev_alert_acknowledged", "告警已确认", "alert acknowledged"),
    ("ev_check_failed", "健康检查失败", "check failed"),
    ("ev_check_recovered", "健康检查恢复", "check recovered"),
    ("ev_check_flapping", "健康检查抖动", "check flapping"),
    ("ev_escalation.warning", "升级：即将超时", "escalation: deadline near"),
    ("ev_escalation.breach", "升级：已超时", "escalation: deadline breached"),
    ("ev_delivery.delivered", "通知已投递", "notification delivered"),
    ("ev_delivery.pending", "通知待投递", "notification pending"),
    ("ev_delivery.dead", "通知投递失败", "notification failed"),
    ("ev_delivery.folded", "通知已合并", "notification folded into a digest"),
    ("dispatch", "上门调度", "Dispatch"),
    ("field_title", "今天和明天的上门服务", "Today's and tomorrow's visits"),
    (
        "field_not_engineer",
        "你还不是现场工程师：请组长在 /api/v1/engineers/{id} 设置你的区域和日历。",
        "You are not a field engineer yet: a lead sets your region and calendar at /api/v1/engineers/{id}.",
    ),
    ("v_none", "今天和明天没有上门安排。", "No visits today or tomorrow."),
    ("v_site", "现场地址", "Site"),
    ("v_contact", "现场联系人", "Contact on site"),
    ("v_window", "约定时段", "Agreed window"),
    ("v_on_my_way", "出发", "On my way"),
    ("v_arrived", "到场", "Arrived"),
    ("v_no_access", "无法进入", "No access"),
    ("v_done", "完工", "Done"),
    ("v_summary", "工作内容", "Work done"),
    ("v_parts", "使用的备件（每行一个）", "Parts used (one per line)"),
    ("v_outcome", "结果", "Outcome"),
    ("v_fixed", "已修复", "Fixed"),
    ("v_partial", "部分修复", "Partly fixed"),
    ("v_sign", "客户签字", "Customer signs"),
    ("v_signer", "签字人姓名", "Signer's name"),
    ("v_signature", "签名", "Signature"),
    ("v_clear", "清除", "Clear"),
    ("v_save_signature", "保存签字", "Save signature"),
    ("v_pending", "离线保存，联网后发送", "Kept offline; sent when the network is back"),
    ("v_sent", "已发送", "Sent"),
    ("v_work_order", "工作单", "Work order"),
    ("v_state_proposed", "待安排", "Proposed"),
    ("v_state_booked", "已预约", "Booked"),
    ("v_state_en_route", "在途", "On the way"),
    ("v_state_on_site", "在现场", "On site"),
    ("v_state_completed", "已完工", "Completed"),
    ("v_state_signed", "已签字", "Signed"),
    ("v_state_cancelled", "已取消", "Cancelled"),
    ("v_state_no_access", "无法进入", "No access"),
    ("v_ticket", "工单号", "Ticket"),
    ("v_engineer", "工程师", "Engineer"),
    ("v_window_start", "时段开始", "Window starts"),
    ("v_window_end", "时段结束", "Window ends"),
    ("v_offered_start", "最早可提供时间", "Earliest start offered"),
    ("v_chosen_by", "时段由谁选择", "Window chosen by"),
    ("v_by_customer", "客户", "The customer"),
    ("v_by_dispatcher", "调度员", "The dispatcher"),
    ("v_travel", "单程路途（分钟）", "Travel each way (minutes)"),
    ("v_book", "预约上门", "Book the visit"),
    ("v_free", "空闲", "Free"),
    ("v_unbooked", "待安排的上门", "Visits to place"),
    ("v_signed_by", "签字人", "Signed by"),
    ("v_signed_at", "签字时间", "Signed at"),
    ("v_arrival", "到场时限", "Arrival"),
    ("v_week", "一周", "Week"),
    ("v_prev", "上一周", "Previous week"),
    ("v_next", "下一周", "Next week"),
    ("v_suggested", "推荐（区域、技能、空闲时间）", "Suggested (region, skill, free time)"),
    ("v_region", "区域", "Region"),
    ("v_skill", "技能", "Skill"),
    ("v_times", "时间", "Times"),
    ("v_departed", "出发", "Left"),
    ("v_completed", "完工", "Completed"),
    ("v_parts_used", "使用的备件", "Parts used"),
    ("v_sign_work_order", "签署上门工作单", "Sign the work order of a visit"),
    ("v_open_work_order", "打开工作单", "Open the work order"),
    ("rp_title", "服务报告", "Service report"),
    ("rp_weekly", "周报", "Weekly report"),
    ("rp_monthly", "月报", "Monthly report"),
    ("rp_custom", "阶段报告", "Report for the period"),
    ("rp_summary", "概要", "Summary"),
    ("rp_overall", "SLA 达成率", "SLA compliance"),
    ("rp_opened", "新建工单", "Tickets opened"),
    ("rp_closed", "关闭工单", "Tickets closed"),
    ("rp_breaches", "超时", "Missed deadlines"),
    ("rp_tickets", "工单", "Tickets"),
    ("rp_source", "来源", "Source"),
    ("rp_none", "本期无数据。", "Nothing in this period."),
    ("rp_compliance", "各级别 SLA 达成情况", "SLA compliance by level and timer"),
    ("rp_timer", "时限", "Timer"),
    ("rp_in_time", "按时", "in time"),
    ("rp_late", "超时达成", "late"),
    ("rp_breached", "超时未达成", "breached"),
    ("rp_auto_resolved", "自动解决", "auto-resolved"),
    ("rp_cancelled", "已取消", "cancelled"),
    ("rp_rate", "达成率", "Compliance"),
    ("rp_due", "截止时间", "Deadline"),
    ("rp_ended", "结束时间", "Ended"),
    ("rp_how_late", "超时（工作时间）", "Late by (working time)"),
    ("rp_no_breaches", "本期所有时限均按时达成。", "Every deadline of this period was met in time."),
    ("rp_visits", "上门服务", "On-site visits"),
    ("rp_arrivals", "到场时限", "Arrival"),
    ("rp_satisfaction", "客户满意度", "Satisfaction"),
    ("rp_operations", "监控与巡检", "Monitoring and inspections"),
    ("rp_backlog", "期末未解决工单", "Unresolved at the period's end"),
    ("rp_waiting_customer", "其中等待客户", "of them waiting for the customer"),
    ("rp_check", "检查项", "Check"),
    ("rp_uptime", "可用率", "Uptime"),
    ("rp_failures", "失败次数", "Failures"),
    ("rp_inspections", "本期巡检", "Inspections this period"),
    ("rp_down", "异常", "down"),
    ("rp_rated", "已评价 / 已邀请", "Rated / asked"),
    ("rp_mean", "平均分", "Mean score"),
    ("rp_callbacks", "需回访", "Callbacks asked for"),
    ("rp_callbacks_ended", "本期完成回访：", "callbacks made this period:"),
    ("rp_score", "评分", "Score"),
    ("rp_ratings", "评价数", "Ratings"),
    ("rp_engineer", "工程师", "Engineer"),
    ("rp_work_orders", "已签字工单", "Work orders signed"),
    ("rp_trend", "达成率趋势", "Compliance trend"),
    ("rp_note", "客户经理说明", "From your account lead"),
    ("rp_sign_provider", "服务方签字", "For the service provider"),
    ("rp_sign_customer", "客户方签字", "For the customer"),
    ("rp_hash", "报告 SHA-256", "Report SHA-256"),
    ("rp_answer", "客户确认", "The customer's answer"),
    (
        "rp_answer_hint",
        "请确认本报告，或说明有异议之处；异议会生成工单，由客户经理跟进。",
        "Please acknowledge this report, or say what you dispute: a dispute opens a ticket for your account lead.",
    ),
    ("rp_answer_open", "确认或提出异议", "Acknowledge or dispute"),
    ("rp_acknowledge", "确认报告", "Acknowledge the report"),
    ("rp_dispute", "提出异议", "Dispute the report"),
    ("rp_dispute_reason", "异议说明", "What is wrong"),
    ("rp_decided_acknowledged", "已确认", "Acknowledged"),
    ("rp_decided_disputed", "有异议", "Disputed"),
    ("rp_link_invalid", "链接无效或已过期", "This link is invalid or has expired"),
    ("rp_link_invalid_hint", "请登录客户门户查看并确认报告。", "Sign in to the portal to see and answer the report."),
    ("rp_reports", "服务报告", "Service reports"),
    ("rp_period", "周期", "Period"),
    ("rp_to_answer", "待确认", "to answer"),
    ("rp_no_reports", "暂无服务报告。", "No service reports yet."),
    ("rp_src_hotline", "热线", "hotline"),
    ("rp_src_portal", "门户", "portal"),
    ("rp_src_email", "邮件", "e-mail"),
    ("rp_src_check", "监控检查", "health check"),
    ("rp_src_integration", "集成", "integration"),
    ("rp_src_report", "服务报告", "service report"),
    ("rp_timer_response", "响应", "Response"),
    ("rp_timer_plan", "处理方案", "Plan"),
    ("rp_timer_resolution", "解决", "Resolution"),
    ("rp_timer_arrival", "到场", "Arrival"),
    ("rp_timer_callback", "回访", "Callback"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages_and_accept_language_chooses() {
        assert!(all().all(|(_, zh, en)| !zh.is_empty() && !en.is_empty()));
        let mut keys: Vec<&str> = all().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a text key is listed twice");
        let req = actix_web::test::TestRequest::default()
            .insert_header(("accept-language", "en-US,en;q=0.9"))
            .to_http_request();
        assert_eq!(Lang::of(&req), Lang::En);
        let req = actix_web::test::TestRequest::default()
            .insert_header(("accept-language", "fr, zh-CN;q=0.8"))
            .to_http_request();
        assert_eq!(Lang::of(&req), Lang::ZhCn);
        assert_eq!(texts(Lang::En)["sign_in"], "Sign in");
    }

    /// Every `t.key` a template names, and every key code asks for, has a text.
    #[test]
    fn templates_and_code_name_only_known_texts() {
        let known: std::collections::BTreeSet<&str> = all().map(|(k, _, _)| *k).collect();
        let sources = [
            include_str!("templates/base.html"),
            include_str!("templates/message.html"),
            include_str!("templates/sign_in.html"),
            include_str!("templates/link.html"),
            include_str!("templates/console.html"),
            include_str!("templates/new_ticket.html"),
            include_str!("templates/ticket.html"),
            include_str!("templates/checks.html"),
            include_str!("templates/inspections.html"),
            include_str!("templates/inspection.html"),
            include_str!("templates/notifications.html"),
            include_str!("templates/portal.html"),
            include_str!("templates/portal_ticket.html"),
            include_str!("templates/portal_new.html"),
            include_str!("templates/status.html"),
            include_str!("templates/field.html"),
            include_str!("templates/dispatch.html"),
            include_str!("templates/work_order.html"),
            include_str!("templates/portal_visit.html"),
            include_str!("templates/sign_form.html"),
            include_str!("templates/report.html"),
            include_str!("templates/portal_reports.html"),
            include_str!("templates/kb_list.html"),
            include_str!("templates/kb_article.html"),
        ];
        for src in sources {
            for (i, _) in src.match_indices("t.") {
                let before = src[..i].chars().last().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == '.' {
                    continue;
                }
                let key: String = src[i + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                if !key.is_empty() {
                    assert!(known.contains(key.as_str()), "template text `{key}` is missing");
                }
            }
        }
        for prefix in [
            "act_",
            "text_",
            "health_",
            "insp_",
            "nt_",
            "st_",
            "rp_",
            "rp_src_",
            "rp_timer_",
            "kb_state_",
            "kb_move_",
            "kb_vis_",
        ] {
            assert!(known.iter().any(|k| k.starts_with(prefix)), "{prefix}");
        }
    }
}
