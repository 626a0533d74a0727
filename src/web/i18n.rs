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
    TEXTS.iter().map(|(k, zh, en)| (*k, if lang == Lang::En { *en } else { *zh })).collect()
}

const TEXTS: &[(&str, &str, &str)] = &[
    ("app", "Opsline 运维服务台", "Opsline service desk"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("username", "用户名", "Username"),
    ("password", "密码", "Password"),
    ("bad_credentials", "用户名或密码错误。", "Wrong username or password."),
    ("too_many", "尝试次数过多，请稍后再试。", "Too many attempts; try again in a minute."),
    ("expired_form", "表单已过期，请重试。", "The form expired; please try again."),
    ("queue", "工单队列", "Queue"),
    ("number", "工单号", "Ticket"),
    ("title", "标题", "Title"),
    ("level", "级别", "Level"),
    ("status", "状态", "Status"),
    ("customer", "客户", "Customer"),
    ("response", "响应", "Response"),
    ("plan", "处理方案", "Plan"),
    ("resolution", "解决", "Resolution"),
    ("empty_queue", "没有未解决的工单。", "No open tickets."),
    ("times_in", "时间按此时区显示：", "Times shown in"),
    ("language", "English", "中文"),
    ("met", "已达成", "met"),
    ("breached", "已超时", "breached"),
    ("paused", "已暂停", "paused"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages_and_accept_language_chooses() {
        assert!(TEXTS.iter().all(|(_, zh, en)| !zh.is_empty() && !en.is_empty()));
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
}
