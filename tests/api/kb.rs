//! The knowledge base: the evaluation set's recall on this database, every two-character word
//! found where it stands, drafts from resolved tickets without personal data, and an article's
//! life (versions, moves, reuse) counted where the ops room sees it.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{Act, TestApp, spawn};
use crate::web::form_body;

#[derive(Deserialize)]
struct Eval {
    ticket: Vec<EvalTicket>,
    article: Vec<EvalArticle>,
    query: Vec<EvalQuery>,
}

#[derive(Deserialize)]
struct EvalTicket {
    key: String,
    customer: String,
    level: String,
    title: String,
    description: String,
    resolution: String,
}

#[derive(Deserialize)]
struct EvalArticle {
    key: String,
    title: String,
    symptom: String,
    cause: String,
    resolution: String,
    tags: Vec<String>,
    visibility: String,
    language: String,
}

#[derive(Deserialize)]
struct EvalQuery {
    text: String,
    expect: Vec<String>,
}

fn eval_set() -> Eval {
    toml::from_str(include_str!("kb_eval.toml")).expect("kb_eval.toml")
}

fn q(text: &str) -> String {
    form_body(&[("q", text)])
}

/// The evaluation corpus in the application: keys by id, and each document's text.
struct Loaded {
    keys: BTreeMap<(char, i64), String>,
    ticket_texts: Vec<(i64, String)>,
    article_texts: Vec<(i64, String)>,
}

async fn load(app: &TestApp, eval: &Eval) -> Loaded {
    let mut customers = BTreeMap::new();
    for name in ["acme", "globex", "initech"] {
        customers.insert(name.to_string(), app.customer(&format!("{name} 集团"), "standard").await);
    }
    let mut loaded = Loaded { keys: BTreeMap::new(), ticket_texts: Vec::new(), article_texts: Vec::new() };
    for t in &eval.ticket {
        let body = json!({"customer_id": customers[&t.customer], "title": t.title, "description": t.description, "level": t.level});
        let r = app.post("/api/v1/tickets", &app.admin, body).await;
        assert_eq!(r.status, 201, "{}: {}", t.key, r.body);
        let id = r.body["id"].as_i64().unwrap();
        let done = app.act(id, "resolve", &app.admin, json!({"resolution": t.resolution})).await;
        assert_eq!(done.status, 200, "{}: {}", t.key, done.body);
        loaded.keys.insert(('t', id), t.key.clone());
        loaded.ticket_texts.push((id, format!("{}\n{}\n{}", t.title, t.description, t.resolution)));
    }
    for a in &eval.article {
        let body = json!({"title": a.title, "symptom": a.symptom, "cause": a.cause, "resolution": a.resolution,
            "tags": a.tags, "visibility": a.visibility, "language": a.language});
        let r = app.post("/api/v1/kb/articles", &app.admin, body).await;
        assert_eq!(r.status, 201, "{}: {}", a.key, r.body);
        let id = r.body["id"].as_i64().unwrap();
        let p = app.post(&format!("/api/v1/kb/articles/{id}/publish"), &app.admin, json!({})).await;
        assert_eq!(p.status, 200, "{}: {}", a.key, p.body);
        loaded.keys.insert(('a', id), a.key.clone());
        let text = format!("{}\n{}\n{}\n{}\n{}", a.title, a.symptom, a.cause, a.resolution, a.tags.join(" "));
        loaded.article_texts.push((id, text));
    }
    loaded
}

/// The keys a suggestion returned.
fn returned(loaded: &Loaded, s: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (kind, list) in [('t', &s["tickets"]), ('a', &s["articles"])] {
        for item in list.as_array().unwrap() {
            if let Some(k) = loaded.keys.get(&(kind, item["id"].as_i64().unwrap())) {
                out.insert(k.clone());
            }
        }
    }
    out
}

/// The two-character words of the queries, as the segmenter cuts them.
fn two_character_words(app: &TestApp, eval: &Eval) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for query in &eval.query {
        for w in app.state.search.ranking(&query.text) {
            let han = w.token.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            if han && w.token.chars().count() == 2 && w.typed == w.token {
                words.insert(w.token);
            }
        }
    }
    words
}

/// Every two-character word finds exactly the tickets and articles that contain it.
async fn each_two_character_word_finds_its_documents(
    app: &TestApp,
    loaded: &Loaded,
    words: &BTreeSet<String>,
) -> usize {
    let mut documents = 0;
    for w in words {
        let want: BTreeSet<i64> =
            loaded.ticket_texts.iter().filter(|(_, t)| t.contains(w.as_str())).map(|(id, _)| *id).collect();
        let r = app.get(&format!("/api/v1/tickets?limit=200&{}", q(w)), &app.admin).await;
        assert_eq!(r.status, 200, "{w}: {}", r.body);
        let got: BTreeSet<i64> =
            r.body["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(got, want, "tickets for {w}");
        documents += got.len();
        let want: BTreeSet<i64> =
            loaded.article_texts.iter().filter(|(_, t)| t.contains(w.as_str())).map(|(id, _)| *id).collect();
        let r = app.get(&format!("/api/v1/kb/articles?{}", q(w)), &app.admin).await;
        assert_eq!(r.status, 200, "{w}: {}", r.body);
        let got: BTreeSet<i64> = r.body.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
        assert_eq!(got, want, "articles for {w}");
        documents += got.len();
    }
    documents
}

#[tokio::test]
async fn the_evaluation_set_finds_nine_in_ten_expected_cases_in_the_top_five() {
    let app = spawn().await;
    let eval = eval_set();
    assert!(eval.query.len() >= 200, "{} queries", eval.query.len());
    let loaded = load(&app, &eval).await;
    let (mut found, mut labels, mut missed) = (0usize, 0usize, Vec::new());
    for query in &eval.query {
        let r = app.post("/api/v1/suggest", &app.admin, json!({"description": query.text})).await;
        assert_eq!(r.status, 200, "{}: {}", query.text, r.body);
        assert!(r.body["tickets"].as_array().unwrap().len() <= 5 && r.body["articles"].as_array().unwrap().len() <= 5);
        let got = returned(&loaded, &r.body);
        for e in &query.expect {
            labels += 1;
            if got.contains(e) {
                found += 1;
            } else {
                missed.push(format!("{} ← {}", e, query.text));
            }
        }
    }
    let recall = found as f64 / labels as f64;
    let words = two_character_words(&app, &eval);
    let documents = each_two_character_word_finds_its_documents(&app, &loaded, &words).await;
    println!(
        "knowledge-base evaluation on {:?}: recall@5 {recall:.3} ({found} of {labels} expected cases, {} queries); \
         {} two-character query words found every ticket and article containing them ({documents} in all, no other)",
        app.state.backend(),
        eval.query.len(),
        words.len(),
    );
    assert!(recall >= 0.9, "recall@5 {recall:.3}; missed:\n{}", missed.join("\n"));
    assert!(words.len() >= 40, "only {} two-character words", words.len());
}

/// A customer "Acme 制造" with a contact 张伟 who gives his mail and phone on the call.
async fn resolved_ticket_full_of_personal_data(app: &TestApp) -> (i64, Value) {
    let customer = app.customer("Acme 制造", "standard").await;
    let c = app
        .post(
            &format!("/api/v1/customers/{customer}/contacts"),
            &app.admin,
            json!({"name": "张伟", "email": "zhang.wei@acme-mfg.example", "phone": "+86 138 0013 8000"}),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    let body = json!({"customer_id": customer, "contact_id": c.body["id"], "title": "Acme 制造 NC65 凭证生成报错 ORA-01555",
        "description": "张伟来电：月末凭证生成报错 ORA-01555 snapshot too old，回电 13800138000 或 zhang.wei@acme-mfg.example。"});
    let t = app.post("/api/v1/tickets", &app.admin, body).await;
    assert_eq!(t.status, 201, "{}", t.body);
    let id = t.body["id"].as_i64().unwrap();
    for (action, body) in [
        ("plan", json!({"plan": "原因：undo 表空间过小，长查询期间被覆盖\n\n步骤：扩容 undo，张伟确认后重跑凭证生成"})),
        (
            "resolve",
            json!({"resolution": "undo_retention 调到 10800、undo 表空间扩到 32G 后重跑凭证生成成功；已电话 +86 138 0013 8000 告知张伟。"}),
        ),
    ] {
        let r = app.act(id, action, &app.admin, body).await;
        assert_eq!(r.status, 200, "{action}: {}", r.body);
    }
    (id, t.body)
}

#[tokio::test]
async fn a_draft_from_a_resolved_ticket_keeps_the_fix_and_none_of_the_people() {
    let app = spawn().await;
    let engineer = app.staff("engineer").await;
    let open = app.open_ticket(app.customer("Other", "standard").await, "still open").await;
    let refused = app.post(&format!("/api/v1/kb/articles/from-ticket/{}", open.id), &engineer, json!({})).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "not_resolved"), "{}", refused.body);
    let (id, ticket) = resolved_ticket_full_of_personal_data(&app).await;
    let number = ticket["number"].as_str().unwrap();
    let r = app.post(&format!("/api/v1/kb/articles/from-ticket/{number}"), &engineer, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = &r.body;
    assert_eq!(
        (a["state"].as_str(), a["visibility"].as_str(), a["version"].as_i64()),
        (Some("draft"), Some("internal"), Some(1))
    );
    assert_eq!(a["sources"][0]["id"].as_i64(), Some(id), "{a}");
    assert!(a["resolution"].as_str().unwrap().contains("undo_retention 调到 10800"), "{a}");
    assert!(a["symptom"].as_str().unwrap().contains("ORA-01555"), "{a}");
    assert_eq!(a["cause"].as_str(), Some("undo 表空间过小，长查询期间被覆盖"), "{a}");
    // The draft's text; its source link names the ticket as it is, for staff.
    let all: String = ["title", "symptom", "cause", "resolution", "body", "body_html", "tags", "product"]
        .iter()
        .map(|f| a[*f].to_string())
        .collect();
    for personal in ["张伟", "zhang.wei", "acme-mfg", "13800138000", "138 0013 8000", "Acme 制造", "Acme"] {
        assert!(!all.contains(personal), "{personal} left in the draft: {all}");
    }
    for placeholder in ["[contact]", "[phone]", "[email]", "[customer]"] {
        assert!(all.contains(placeholder), "{placeholder} missing: {all}");
    }
    let agent = app.staff("agent").await;
    let denied = app.post(&format!("/api/v1/kb/articles/from-ticket/{id}"), &agent, json!({})).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
}

async fn metric(app: &TestApp, outcome: &str) -> f64 {
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    let line = format!("opsline_knowledge_suggestions_total{{outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(line.as_str())).map(|v| v.parse().unwrap()).unwrap_or(-1.0)
}

#[tokio::test]
async fn an_article_is_reviewed_published_suggested_reused_and_counted() {
    let app = spawn().await;
    let (engineer, lead) = (app.staff("engineer").await, app.staff("lead").await);
    let customer = app.customer("Globex", "standard").await;
    let (_, contact) = app.contact(customer, "ops@globex.example").await;
    let new = json!({"title": "报表取数超时", "symptom": "打开资产负债表取数 timeout", "resolution": "重建 **索引** 后取数恢复",
        "body": "<script>alert(1)</script>\n\n1. 重建索引", "tags": ["报表"], "visibility": "customer"});
    let a = app.post("/api/v1/kb/articles", &engineer, new).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_i64().unwrap();
    assert!(!a.body["body_html"].as_str().unwrap().contains("<script"), "{}", a.body);
    // Customers cannot see a draft, in the list, by id, or in suggestions.
    let ask = json!({"title": "报表 取数 超时了"});
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{id}"), &contact).await.status, 404);
    assert_eq!(app.post("/api/v1/suggest", &contact, ask.clone()).await.body["articles"], json!([]));
    let edit = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/kb/articles/{id}"),
            Some(&engineer),
            Some(json!({"version": 1, "cause": "统计信息过旧，执行计划走了全表扫描"})),
        )
        .await;
    assert_eq!((edit.status.as_u16(), edit.body["version"].as_i64()), (200, Some(2)), "{}", edit.body);
    let stale = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/kb/articles/{id}"),
            Some(&engineer),
            Some(json!({"version": 1, "cause": "x"})),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(app.post(&format!("/api/v1/kb/articles/{id}/submit"), &engineer, json!({})).await.status, 200);
    assert_eq!(app.post(&format!("/api/v1/kb/articles/{id}/publish"), &engineer, json!({})).await.status, 403);
    let p = app.post(&format!("/api/v1/kb/articles/{id}/publish"), &lead, json!({})).await;
    assert_eq!((p.status.as_u16(), p.body["state"].as_str()), (200, Some("published")), "{}", p.body);
    let again = app.post(&format!("/api/v1/kb/articles/{id}/publish"), &lead, json!({})).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let frozen = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/kb/articles/{id}"),
            Some(&engineer),
            Some(json!({"cause": "x"})),
        )
        .await;
    assert_eq!(frozen.status, 409, "{}", frozen.body);
    let versions = app.get(&format!("/api/v1/kb/articles/{id}/versions"), &engineer).await;
    let v = versions.body.as_array().unwrap();
    assert_eq!(v.len(), 4, "{}", versions.body);
    assert!(v[1]["diff"].as_str().unwrap().contains("+统计信息过旧"), "{}", v[1]);
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{id}/versions"), &contact).await.status, 404);
    // Published for customers: the contact finds it, answers it; an agent links it to a ticket
    // and an engineer's resolution cites it.
    let s = app.post("/api/v1/suggest", &contact, ask.clone()).await;
    assert_eq!(s.body["articles"][0]["id"].as_i64(), Some(id), "{}", s.body);
    assert_eq!(s.body["tickets"], json!([]), "contacts never see tickets in suggestions");
    let f = app.post(&format!("/api/v1/kb/articles/{id}/feedback"), &contact, json!({"helpful": true})).await;
    assert_eq!(f.status, 204, "{}", f.body);
    let t = app.open_ticket(customer, "报表取数很慢").await;
    let agent = app.staff("agent").await;
    let used =
        app.post("/api/v1/kb/events", &agent, json!({"outcome": "used", "article_id": id, "ticket_id": t.id})).await;
    assert_eq!(used.status, 204, "{}", used.body);
    let r = app.change(&t, &app.admin, Act::Resolve(&format!("按 KB-{id} 重建索引"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{id}"), &contact).await.body["helpful"].as_i64(), Some(1));
    for (outcome, n) in [("shown", 1.0), ("used", 1.0), ("solved_by", 1.0), ("helpful", 1.0), ("not_helpful", 0.0)] {
        assert_eq!(metric(&app, outcome).await, n, "{outcome}");
    }
    // The customer's weekly report counts what the knowledge base did for them.
    app.clock.set(crate::helpers::at("2026-10-27T12:00:00+08:00"));
    let report = app
        .post(
            &format!("/api/v1/customers/{customer}/reports"),
            &app.admin,
            json!({"period": "weekly", "from": "2026-10-19"}),
        )
        .await;
    assert_eq!(report.status, 201, "{}", report.body);
    let k = &report.body["content"]["knowledge"];
    assert_eq!(
        (k["helpful"].as_u64(), k["suggestions_used"].as_u64(), k["solved_by_articles"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{}",
        report.body
    );
    // Retired: gone for customers, kept for staff.
    assert_eq!(app.post(&format!("/api/v1/kb/articles/{id}/retire"), &lead, json!({})).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{id}"), &contact).await.status, 404);
    assert_eq!(app.post("/api/v1/suggest", &contact, ask).await.body["articles"], json!([]));
    assert_eq!(app.get(&format!("/api/v1/kb/articles/{id}"), &engineer).await.status, 200);
}

async fn found(app: &TestApp, text: &str) -> BTreeSet<i64> {
    let r = app.get(&format!("/api/v1/tickets?{}", q(text)), &app.admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn ticket_search_finds_words_in_comments_and_resolutions_and_error_codes_whole() {
    let app = spawn().await;
    let customer = app.customer("Initech", "standard").await;
    let a = app.open_ticket(customer, "数据库连接失败").await;
    let b = app.open_ticket(customer, "连接池满").await;
    assert_eq!(app.change(&a, &app.admin, Act::Comment("日志里是 ORA-12170 TNS 连接超时")).await.status, 201);
    assert_eq!(app.change(&b, &app.admin, Act::Resolve("ORA-12541 监听没起，重启 listener")).await.status, 200);
    assert_eq!(found(&app, "ORA-12170").await, [a.id].into());
    assert_eq!(found(&app, "ora-12541").await, [b.id].into());
    assert_eq!(found(&app, "ORA-1217").await, BTreeSet::new());
    assert_eq!(found(&app, "连接").await, [a.id, b.id].into());
    assert_eq!(found(&app, "超时 连接").await, [a.id].into());
    assert_eq!(found(&app, "监听").await, [b.id].into());
    assert_eq!(found(&app, &a.number).await, [a.id].into());
}

/// A contact's portal session, signed in by an e-mailed link.
async fn portal_session(app: &TestApp, smtp: &crate::receivers::SmtpServer, email: &str) -> crate::portal::Jar {
    let purpose = opsline::services::contact_links::Purpose::SignIn;
    opsline::services::contact_links::request(&app.state, email, purpose, app.clock.now()).await.unwrap();
    opsline::services::delivery::run_once(&app.state, &app.state.notifier, app.clock.now()).await.unwrap();
    let text = smtp.mails().into_iter().find(|m| m.text().contains("/portal/link/")).expect("the sign-in mail").text();
    let link = text[text.find("/portal/link/").unwrap()..].split_whitespace().next().unwrap().to_string();
    let mut jar = crate::portal::Jar::default();
    let (_, _, page) = jar.get(app, &link).await;
    let (s, _, _) = jar.post(app, &link, &[("csrf_token", &crate::web::csrf(&page))]).await;
    assert_eq!(s, 303);
    jar
}

#[tokio::test]
async fn the_console_and_the_portal_show_what_each_may_see() {
    let smtp = crate::receivers::SmtpServer::start().await;
    let env = vec![("OPSLINE_EMAIL__SMTP_URL".to_string(), smtp.url())];
    let app = crate::helpers::spawn_with(crate::helpers::Options { env, ..Default::default() }).await;
    let (acme, other) = (app.customer("Acme 银行", "standard").await, app.customer("Other 证券", "standard").await);
    app.contact(acme, "it@acme.example").await;
    let theirs = app.open_ticket(other, "凭证生成报错 ORA-01555").await;
    assert_eq!(app.change(&theirs, &app.admin, Act::Resolve("扩容 undo 表空间后重跑")).await.status, 200);
    for (title, visibility) in [("凭证生成报错的处理", "customer"), ("内部：undo 表空间巡检", "internal")]
    {
        let a = app
            .post(
                "/api/v1/kb/articles",
                &app.admin,
                json!({"title": title, "symptom": "凭证生成报错", "visibility": visibility}),
            )
            .await;
        assert_eq!(
            app.post(&format!("/api/v1/kb/articles/{}/publish", a.body["id"]), &app.admin, json!({})).await.status,
            200
        );
    }
    // The agent typing sees the other customer's resolved ticket and both articles.
    let (mut staff, _) = crate::portal::staff_session(&app, "kb-agent", "engineer").await;
    let (s, _, body) = staff.get(&app, &format!("/console/suggest?{}", form_body(&[("title", "凭证生成 报错")]))).await;
    assert_eq!(s, 200, "{body}");
    let found: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(found["tickets"][0]["number"].as_str(), Some(theirs.number.as_str()), "{found}");
    assert_eq!(found["articles"].as_array().unwrap().len(), 2, "{found}");
    // Its page offers a draft; one click makes it.
    let (_, _, page) = staff.get(&app, &format!("/console/tickets/{}", theirs.number)).await;
    assert!(page.contains("/kb-draft") && page.contains("凭证生成报错的处理"), "{page}");
    let (s, loc, _) = staff
        .post(
            &app,
            &format!("/console/tickets/{}/kb-draft", theirs.number),
            &[("csrf_token", &crate::web::csrf(&page))],
        )
        .await;
    assert_eq!(s, 303);
    assert!(loc.starts_with("/console/kb/"), "{loc}");
    let (s, _, draft) = staff.get(&app, &loc).await;
    assert!(s == 200 && draft.contains("扩容 undo 表空间后重跑") && !draft.contains("Other 证券"), "{draft}");
    // Edited on its page: a new version.
    let edit = [
        ("csrf_token", crate::web::csrf(&draft)),
        ("version", "1".into()),
        ("title", "凭证生成报错 ORA-01555".into()),
        ("cause", "undo 表空间太小".into()),
        ("resolution", "扩容 undo 表空间后重跑".into()),
        ("tags", "凭证, 数据库".into()),
        ("visibility", "customer".into()),
    ];
    let pairs: Vec<(&str, &str)> = edit.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _, _) = staff.post(&app, &format!("{loc}/edit"), &pairs).await;
    assert_eq!(s, 303);
    let id = loc.trim_start_matches("/console/kb/");
    let saved = app.get(&format!("/api/v1/kb/articles/{id}"), &app.admin).await.body;
    assert_eq!((saved["version"].as_i64(), saved["cause"].as_str()), (Some(2), Some("undo 表空间太小")), "{saved}");
    assert_eq!(saved["tags"], json!(["凭证", "数据库"]));
    let (s, _, _) = staff.post(&app, &format!("{loc}/edit"), &pairs).await;
    assert_eq!(s, 409, "an edit of an older version is refused");
    // The customer: their help lists the published customer article only; suggestions too.
    let mut jar = portal_session(&app, &smtp, "it@acme.example").await;
    let (s, _, help) = jar.get(&app, &format!("/portal/help?{}", q("凭证"))).await;
    assert_eq!(s, 200);
    assert!(help.contains("凭证生成报错的处理") && !help.contains("undo 表空间巡检"), "{help}");
    let (_, _, body) = jar.get(&app, &format!("/portal/suggest?{}", form_body(&[("title", "凭证生成报错")]))).await;
    let found: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (found["tickets"].as_array().map(Vec::len), found["articles"].as_array().map(Vec::len)),
        (Some(0), Some(1)),
        "{found}"
    );
    let (s, _, _) = jar.get(&app, &loc.replace("/console/kb/", "/portal/help/")).await;
    assert_eq!(s, 404, "a draft is not found in the portal");
    let (s, loc, _) = jar.get(&app, "/console/suggest?title=x").await;
    assert_eq!((s, loc.as_str()), (303, "/portal"), "contacts do not reach the console");
}

#[tokio::test]
async fn agents_can_be_kept_from_other_customers_names_in_suggestions() {
    let overlay = "[kb]\nhide_customer_from_agents = true\n".to_string();
    let app =
        crate::helpers::spawn_with(crate::helpers::Options { overlay: Some(overlay), ..Default::default() }).await;
    let (mine, theirs) = (app.customer("本方银行", "standard").await, app.customer("他方证券", "standard").await);
    for (customer, title) in [(mine, "打印模板错位 本方"), (theirs, "打印模板错位 他方")] {
        let t = app.open_ticket(customer, title).await;
        assert_eq!(app.change(&t, &app.admin, Act::Resolve("重新上传打印模板")).await.status, 200);
    }
    let ask = json!({"title": "打印模板 错位", "customer_id": mine});
    let names = |s: &Value| -> BTreeSet<String> {
        s["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["customer"].as_str().unwrap_or("(hidden)").to_string())
            .collect()
    };
    let agent = app.post("/api/v1/suggest", &app.staff("agent").await, ask.clone()).await.body;
    assert_eq!(names(&agent), ["(hidden)".to_string(), "本方银行".to_string()].into(), "{agent}");
    let engineer = app.post("/api/v1/suggest", &app.staff("engineer").await, ask).await.body;
    assert_eq!(names(&engineer), ["他方证券".to_string(), "本方银行".to_string()].into(), "{engineer}");
}

/// The ids of the resolved tickets `app` suggests for `title`.
async fn suggested(app: &TestApp, title: &str) -> Vec<i64> {
    let r = app.post("/api/v1/suggest", &app.admin, json!({ "title": title })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn every_instance_suggests_what_any_instance_resolved_and_drops_what_was_reopened() {
    // Each instance ranks in an index of its own, fed from the shared database.
    let a = spawn().await;
    let b =
        crate::helpers::spawn_with(crate::helpers::Options { db_url: Some(a.db.url.clone()), ..Default::default() })
            .await;
    let customer = a.customer("共享银行", "standard").await;
    let t = a.open_ticket(customer, "影像扫描上传失败 ORA-12541").await;
    assert!(suggested(&b, "影像扫描 上传失败").await.is_empty(), "an open ticket is not a solution");
    assert_eq!(a.change(&t, &a.admin, Act::Resolve("重启影像服务后恢复")).await.status, 200);
    assert_eq!(suggested(&b, "影像扫描 上传失败").await, [t.id], "resolved on a, suggested by b");
    assert_eq!(suggested(&a, "ORA-12541").await, [t.id]);
    assert_eq!(a.change(&t, &a.admin, Act::Reopen("又出现了")).await.status, 200);
    assert!(suggested(&b, "影像扫描 上传失败").await.is_empty(), "reopened on a, no longer a solution on b");
    assert_eq!(b.change(&t, &b.admin, Act::Resolve("清理影像缓存目录")).await.status, 200);
    assert_eq!(suggested(&a, "影像缓存").await, [t.id], "the new resolution's words, resolved on b, found on a");
}

#[tokio::test]
async fn a_document_committed_after_a_later_one_is_still_suggested() {
    // PostgreSQL commits transactions out of order: one that began first may commit last. On
    // SQLite there is one writer at a time, so the order cannot invert.
    let app = spawn().await;
    if !app.db.url.starts_with("postgres") {
        return;
    }
    let customer = app.customer("晚提交银行", "standard").await;
    let early = app.open_ticket(customer, "总账月结 卡住").await;
    assert_eq!(app.change(&early, &app.admin, Act::Resolve("重建月结任务")).await.status, 200);
    assert_eq!(suggested(&app, "总账月结").await, [early.id]);
    // A transaction takes its id and rewrites the early ticket's document, and stays open while a
    // later ticket is resolved and suggested (the index reads on past the later one)…
    let other = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let txn = other.begin().await.unwrap();
    let sql =
        format!("UPDATE search_docs SET tokens = tokens || ' 迟到' WHERE kind = 'ticket' AND ref_id = {}", early.id);
    txn.execute_unprepared(&sql).await.unwrap();
    let later = app.open_ticket(customer, "薪资计算 报错").await;
    assert_eq!(app.change(&later, &app.admin, Act::Resolve("更新薪资方案")).await.status, 200);
    assert_eq!(suggested(&app, "薪资计算").await, [later.id]);
    assert!(suggested(&app, "迟到").await.is_empty(), "not committed yet");
    // …then commits: its lower transaction id is read all the same.
    txn.commit().await.unwrap();
    assert_eq!(suggested(&app, "迟到").await, [early.id]);
}
