//! Every text exists in both languages, `Accept-Language` chooses between them, and the templates
//! and the code name only texts that exist.

use super::*;

#[test]
fn every_text_exists_in_both_languages_and_accept_language_chooses() {
    assert!(all().all(|(_, zh, en)| !zh.is_empty() && !en.is_empty()));
    let mut keys: Vec<&str> = all().map(|(k, _, _)| *k).collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "a text key is listed twice");
    let req =
        actix_web::test::TestRequest::default().insert_header(("accept-language", "en-US,en;q=0.9")).to_http_request();
    assert_eq!(Lang::of(&req), Lang::En);
    let req =
        actix_web::test::TestRequest::default().insert_header(("accept-language", "fr, zh-CN;q=0.8")).to_http_request();
    assert_eq!(Lang::of(&req), Lang::ZhCn);
    assert_eq!(texts(Lang::En)["sign_in"], "Sign in");
}

/// Every `t.key` a template names, and every key code asks for, has a text.
#[test]
fn templates_and_code_name_only_known_texts() {
    let known: std::collections::BTreeSet<&str> = all().map(|(k, _, _)| *k).collect();
    let sources = [
        include_str!("../templates/base.html"),
        include_str!("../templates/message.html"),
        include_str!("../templates/sign_in.html"),
        include_str!("../templates/link.html"),
        include_str!("../templates/console.html"),
        include_str!("../templates/new_ticket.html"),
        include_str!("../templates/ticket.html"),
        include_str!("../templates/checks.html"),
        include_str!("../templates/inspections.html"),
        include_str!("../templates/inspection.html"),
        include_str!("../templates/notifications.html"),
        include_str!("../templates/portal.html"),
        include_str!("../templates/portal_ticket.html"),
        include_str!("../templates/portal_new.html"),
        include_str!("../templates/status.html"),
        include_str!("../templates/field.html"),
        include_str!("../templates/dispatch.html"),
        include_str!("../templates/work_order.html"),
        include_str!("../templates/portal_visit.html"),
        include_str!("../templates/sign_form.html"),
        include_str!("../templates/report.html"),
        include_str!("../templates/portal_reports.html"),
        include_str!("../templates/kb_list.html"),
        include_str!("../templates/kb_article.html"),
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
