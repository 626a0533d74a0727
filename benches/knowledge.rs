#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The knowledge base's search at scale, on SQLite and on PostgreSQL: 100,000 resolved tickets
//! (Chinese and English hotline text, about 80 characters each, from a skewed vocabulary of
//! two-character words, longer terms, identifiers and error codes) and 300 published articles.
//!
//! - Indexing rate: the search index built for every ticket by the path the service itself uses
//!   for tickets opened before the index existed (`services::search::backfill`: read the ticket
//!   and its comments, segment, write the document in the database's full-text index).
//! - The similarity index's build at start: every document read from the database and indexed
//!   in memory (`services::search::Feed`), as each instance does when it starts.
//! - Suggestion time: `services::kb::suggest::suggest` — what `POST /api/v1/suggest` runs — for
//!   300 twelve-word hotline descriptions, server time in process (reading on the documents
//!   written since, ranking, the ticket and article rows, the `shown` events written). Goal: p95
//!   ≤ 50 ms at 100,000 tickets.
//! - Beside them, django-helpdesk's ticket search over the same tickets (its ticket list's
//!   filter, given each call's title), when `benches/run-all` set django-helpdesk up.
//!
//! `cargo bench --bench knowledge -- [--quick]` (quick: 3,000 tickets, 30 queries). PostgreSQL
//! from `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). Prints a
//! Markdown table and writes it to `$CARGO_TARGET_DIR/bench-knowledge.md`. With `BENCH_KEEP` set,
//! the databases are left in place, to study the queries with `EXPLAIN ANALYZE`.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use common::{Row, Store};
use opsline::clock::Clock;
use opsline::config::{Config, ConfigSource};
use opsline::domain::actor::Actor;
use opsline::domain::level::Level;
use opsline::domain::ticket::{Role, Source, Status};
use opsline::persistence::entities::ticket;
use opsline::services::kb::suggest::{SuggestInput, suggest};
use sea_orm::{EntityTrait, Set};

const DB: &str = "opsline_bench_knowledge";

const TWO: &[&str] = &[
    "崩溃", "登录", "报错", "打印", "卡顿", "超时", "结账", "凭证", "发票", "审批", "权限", "密码", "报表", "导出",
    "同步", "数据", "接口", "服务", "网络", "内存", "磁盘", "备份", "恢复", "升级", "补丁", "重启", "配置", "日志",
    "证书", "端口", "缓存", "索引", "查询", "连接", "锁表", "死锁", "乱码", "附件", "模板", "科目", "余额", "折旧",
    "库存", "采购", "销售", "薪资", "预算", "合并", "影像", "任务", "流程", "节点", "集群", "主机", "版本", "license",
    "单据", "客户", "供应", "批次",
];
const LONG: &[&str] = &[
    "凭证生成",
    "财务共享",
    "合并报表",
    "固定资产",
    "应收应付",
    "单点登录",
    "移动审批",
    "负载均衡",
    "中间件",
    "数据库",
    "表空间",
    "会计平台",
    "总账月结",
    "资产负债表",
    "利润表",
    "现金流量表",
    "预算控制",
    "审批流程",
    "税务发票",
    "库存盘点",
    "采购入库",
    "销售出库",
    "薪资计算",
    "个税申报",
    "影像扫描",
    "任务池",
    "接口平台",
    "消息队列",
    "应用服务器",
    "集团报表",
];
const IDS: &[&str] = &[
    "ORA-12170",
    "ORA-01555",
    "ORA-00060",
    "ORA-12541",
    "NC65",
    "U8",
    "HTTP 502",
    "OutOfMemoryError",
    "SQLSTATE 40001",
    "WebLogic",
    "JVM",
    "EAI",
    "SSO",
    "TNS",
    "Tomcat",
    "Nginx",
    "Redis",
    "MQ",
    "CPU",
    "IIS",
];
const GLUE: &[&str] = &["，", "。", "后", "时", "一直", "提示", "无法", "出现", "客户说", "今天", "又", "所有用户"];

/// A small deterministic generator (no dependency, same corpus every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Skewed: low indexes much more often, like real fault words.
    fn skewed<'a>(&mut self, words: &[&'a str]) -> &'a str {
        let a = self.next() as usize % words.len();
        let b = self.next() as usize % words.len();
        words[a.min(b)]
    }

    fn text(&mut self, words: usize) -> String {
        let mut out = String::new();
        for i in 0..words {
            let w = match self.next() % 10 {
                0..=4 => self.skewed(TWO),
                5..=6 => self.skewed(LONG),
                7 => self.skewed(IDS),
                _ => self.skewed(GLUE),
            };
            if i > 0 && w.is_ascii() {
                out.push(' ');
            }
            out.push_str(w);
        }
        out
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The title, description and resolution of `n` resolved tickets.
fn corpus(n: usize) -> Vec<[String; 3]> {
    let mut g = Lcg(42);
    (0..n).map(|_| [g.text(5), g.text(14), g.text(8)]).collect()
}

/// `queries` hotline calls: a title of three words and a description of nine.
fn calls(queries: usize) -> Vec<(String, String)> {
    let mut q = Lcg(99);
    (0..queries).map(|_| (q.text(3), q.text(9))).collect()
}

/// The tickets of `corpus` for the bench customer, written as rows (no search documents yet).
async fn seed(state: &opsline::state::AppState, customer: i64, corpus: &[[String; 3]]) {
    let t0 = at("2026-06-01T00:00:00Z");
    let mut batch = Vec::new();
    for (i, [title, description, resolution]) in corpus.iter().enumerate() {
        let when = t0 + chrono::Duration::seconds(i as i64 * 60);
        batch.push(ticket::ActiveModel {
            number: Set(format!("KB-BENCH-{i}")),
            customer_id: Set(customer),
            contact_id: Set(None),
            title: Set(title.clone()),
            description: Set(description.clone()),
            level: Set(Level::ALL[i % 4]),
            level_source: Set("manual".into()),
            classification: Set(r#"{"level":"III","rule":null,"matched":[]}"#.into()),
            status: Set(Status::Closed),
            assignee_id: Set(None),
            team_id: Set(None),
            source: Set(Source::Hotline),
            parent_id: Set(None),
            plan: Set(None),
            resolution: Set(Some(resolution.clone())),
            public_title: Set(None),
            created_by_user_id: Set(None),
            created_by_contact_id: Set(None),
            reported_at: Set(when),
            created_at: Set(when),
            updated_at: Set(when),
            waiting_since: Set(None),
            resolved_at: Set(Some(when)),
            closed_at: Set(Some(when)),
            version: Set(1),
            urgency_bucket: Set(3),
            urgency_key: Set(0),
            breached: Set(false),
            ..Default::default()
        });
        if batch.len() == 500 {
            ticket::Entity::insert_many(std::mem::take(&mut batch)).exec_without_returning(&state.db).await.unwrap();
        }
    }
    if !batch.is_empty() {
        ticket::Entity::insert_many(batch).exec_without_returning(&state.db).await.unwrap();
    }
}

fn admin() -> Actor {
    Actor::Staff { user_id: 1, username: "bench".into(), display_name: "Bench".into(), role: Role::Admin }
}

struct Measured {
    /// Tickets indexed per second.
    rate: f64,
    /// The similarity index's build at start: documents, seconds, MiB of resident memory it added.
    build: (u64, f64, f64),
    /// Suggestion times in µs, sorted.
    times: Vec<i64>,
    /// Queries that found a ticket.
    found: usize,
}

async fn measure(store: Store, corpus: &[[String; 3]], calls: &[(String, String)]) -> Option<Measured> {
    let url = common::seeded(store, DB, 0).await?;
    let dir = common::config_dir("[log]\nlevel = \"warn\"\n");
    let mut env = BTreeMap::new();
    env.insert("OPSLINE_DATABASE__URL".to_string(), url.clone());
    let config =
        Config::load(&ConfigSource { dir: dir.path().to_path_buf(), environment: "development".into(), env }).unwrap();
    let state = opsline::startup::prepare(config, Clock::System, true).await.unwrap();
    let (customer, _, _) = common::bench_contract(&state.db).await;
    seed(&state, customer, corpus).await;
    let started = Instant::now();
    let indexed = opsline::services::search::backfill(&state, Utc::now()).await.unwrap();
    let rate = indexed as f64 / started.elapsed().as_secs_f64();
    assert!(indexed as usize >= corpus.len(), "{indexed} of {} indexed", corpus.len());
    let mut g = Lcg(7);
    for i in 0..300 {
        let a = opsline::services::kb::NewArticle {
            title: g.text(4),
            symptom: g.text(12),
            cause: g.text(6),
            resolution: g.text(10),
            body: String::new(),
            tags: vec![],
            product: None,
            language: None,
            visibility: Some(opsline::domain::kb::ArticleVisibility::Customer),
            source_ticket_ids: vec![],
        };
        let v = opsline::services::kb::create(&state, &admin(), a, None, Utc::now()).await.unwrap();
        let mv = opsline::domain::kb::ArticleMove::Publish;
        opsline::services::kb::move_to(&state, &admin(), v.id, mv, None, Utc::now()).await.unwrap();
        let _ = i;
    }
    if store == Store::Postgres {
        common::exec(&state.db, "VACUUM ANALYZE", vec![]).await;
    }
    // What each instance does when it starts: the similarity index read whole from the database.
    // Its memory: the bench process's resident memory before and after (the same process has
    // seeded and indexed, so the difference is what the build added and kept).
    let (started, rss) = (Instant::now(), common::rss_mib(std::process::id()));
    let (_, documents) = state.similar.current(&state.db).await.unwrap();
    let build = (documents, started.elapsed().as_secs_f64(), common::rss_mib(std::process::id()) - rss);
    let mut times = Vec::new();
    let mut found = 0;
    for (title, description) in calls {
        let input =
            SuggestInput { title: title.clone(), description: description.clone(), customer_id: None, ticket_id: None };
        let started = Instant::now();
        let s = suggest(&state, &admin(), input, Utc::now()).await.unwrap();
        times.push(started.elapsed().as_micros() as i64);
        found += usize::from(!s.tickets.is_empty());
    }
    times.sort_unstable();
    state.db.close().await.ok();
    if std::env::var_os("BENCH_KEEP").is_some() {
        eprintln!("BENCH_KEEP: kept {url}");
    } else if store == Store::Postgres {
        common::drop_database(DB).await;
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        let _ = std::fs::remove_file(path);
    }
    Some(Measured { rate, build, times, found })
}

/// django-helpdesk's ticket search over the same tickets, given each call's title (what one types
/// into its search box), if `benches/run-all` set it up: (times in µs sorted, calls that found a
/// ticket).
fn helpdesk_search(corpus: &[[String; 3]], calls: &[(String, String)]) -> Option<(Vec<i64>, usize)> {
    let dir = std::path::PathBuf::from(std::env::var_os("BENCH_DJANGO_DIR")?);
    let input = dir.join("search-corpus.json");
    let queries: Vec<&str> = calls.iter().map(|(title, _)| title.as_str()).collect();
    std::fs::write(&input, serde_json::json!({ "tickets": corpus, "queries": queries }).to_string()).ok()?;
    let script = std::env::current_dir().ok()?.join("benches/peers/helpdesk/search.py");
    let out = std::process::Command::new(dir.join("venv/bin/python"))
        .arg(script)
        .arg(&input)
        .current_dir(dir.join("project"))
        .env("DH_DATA", &dir)
        .env("DH_DB", dir.join("search.sqlite3"))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("django-helpdesk search failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut times: Vec<i64> = v["times"].as_array()?.iter().filter_map(|t| t.as_i64()).collect();
    times.sort_unstable();
    Some((times, v["found"].as_u64()? as usize))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = std::env::args().any(|a| a == "--quick");
    let (tickets, queries) = if quick { (3_000, 30) } else { (100_000, 300) };
    let (corpus, calls) = (corpus(tickets), calls(queries));
    let peer = if quick { None } else { helpdesk_search(&corpus, &calls) };
    let ms = |times: &[i64], q: f64| common::percentile(times, q) as f64 / 1000.0;
    let peer_text = match &peer {
        Some((times, found)) => format!(
            "django-helpdesk's ticket search (SQLite, the call's title as typed): p50 {:.1} ms, p95 {:.1} ms; {found} of {queries} found a ticket",
            ms(times, 0.5),
            ms(times, 0.95)
        ),
        None if quick => "—".into(),
        None => "skipped (django-helpdesk not set up: benches/run-all)".into(),
    };
    let mut rows = Vec::new();
    for (store, name) in [(Store::Sqlite, "SQLite"), (Store::Postgres, "PostgreSQL")] {
        let Some(Measured { rate, build, times, found }) = measure(store, &corpus, &calls).await else {
            rows.push(Row {
                goal: format!("suggestions p95 ≤ 50 ms at {tickets} resolved tickets ({name})"),
                opsline: "PostgreSQL unavailable".into(),
                peer: "—".into(),
                ratio: "—".into(),
                verdict: "skipped".into(),
            });
            continue;
        };
        let p = |q: f64| ms(&times, q);
        eprintln!(
            "{name}: indexed {rate:.0} tickets/s; suggestions p50 {:.1} ms p95 {:.1} ms; {found}/{queries} found a ticket",
            p(0.5),
            p(0.95)
        );
        rows.push(Row {
            goal: format!(
                "suggestions p95 ≤ 50 ms at {tickets} resolved tickets and 300 articles ({name}, server time)"
            ),
            opsline: format!(
                "p50 {:.1} ms, p95 {:.1} ms ({queries} descriptions of 12 words; {found} found similar tickets)",
                p(0.5),
                p(0.95)
            ),
            peer: peer_text.clone(),
            ratio: peer.as_ref().map_or("—".into(), |(t, _)| format!("{:.1}× faster at p95", ms(t, 0.95) / p(0.95))),
            verdict: if p(0.95) <= 50.0 { "pass" } else { "fail" }.into(),
        });
        rows.push(Row {
            goal: format!("search indexing rate ({name}: read, segment, write the document)"),
            opsline: format!("{rate:.0} tickets/s"),
            peer: "—".into(),
            ratio: "—".into(),
            verdict: "reported".into(),
        });
        rows.push(Row {
            goal: format!("similarity index built at start ({name}: every document read and indexed in memory)"),
            opsline: format!(
                "{} documents in {:.2} s ({:.0}/s), {:.0} MiB more resident memory",
                build.0,
                build.1,
                build.0 as f64 / build.1.max(1e-9),
                build.2
            ),
            peer: "—".into(),
            ratio: "—".into(),
            verdict: "reported".into(),
        });
    }
    common::report("knowledge", &rows);
}
