//! The search index in the database: every ticket's and article's tokens ([`crate::search`]) in
//! `search_docs`, written in the transaction that changed them, so every instance sees one index
//! and nothing else runs. Keyword search (a ticket list's `q=`) requires every word; similar
//! documents (suggestions) are ranked by BM25 ([`crate::search::rank`]) over candidates the
//! database's full-text index finds for the query's rarest words.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::error::Result;
use crate::domain::kb::{ArticleState, ArticleVisibility, DocKind};
use crate::domain::ticket::{Status, Visibility};
use crate::persistence::entities::{comment, kb_article, search_doc, ticket};
use crate::persistence::raw::Sql;
use crate::search::rank::{self, Stats};
use crate::search::{QueryWord, Segmenter};
use crate::state::AppState;

/// Document frequencies are counted up to this; rarer words are told apart exactly, and a word
/// in more documents than this weighs next to nothing anyway.
const FREQUENCY_CAP: u64 = 1000;
/// How many of the query's rarest words find the candidates, at most…
const SEEKING_WORDS: usize = 6;
/// …and at most this many documents holding them together: past the rarest word, a word common
/// enough to blow this adds little but time.
const SEEKING_BUDGET: u64 = 3 * FREQUENCY_CAP;
/// When even the rarest word is common, documents holding several of the rarest words together
/// are sought first; this many are enough.
const ENOUGH_TOGETHER: usize = 20;
/// How many candidates the database's own ranking passes on to BM25.
const CANDIDATES: u64 = 200;
/// At most this many words of a text rank.
const MAX_WORDS: usize = 48;

/// The text a ticket is found by: what staff and its customer can both read.
fn ticket_text(t: &ticket::Model, comments: &[String]) -> String {
    let mut text = format!("{}\n{}", t.title, t.description);
    for part in [&t.public_title, &t.plan, &t.resolution].into_iter().flatten() {
        text.push('\n');
        text.push_str(part);
    }
    for c in comments {
        text.push('\n');
        text.push_str(c);
    }
    text
}

/// Indexes ticket `t` as saved (its title, description, plan, resolution and, with
/// `comments`, its public comments), in the caller's transaction.
pub async fn index_ticket(
    db: &impl ConnectionTrait,
    seg: &Segmenter,
    t: &ticket::Model,
    comments: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let bodies =
        if comments { public_comments(db, &[t.id]).await?.remove(&t.id).unwrap_or_default() } else { Vec::new() };
    upsert(db, vec![row(seg, ticket_doc(t), &ticket_text(t, &bodies), now)]).await
}

/// The public comments of tickets `ids`, oldest first, by ticket.
async fn public_comments(db: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = comment::Entity::find()
        .filter(comment::Column::TicketId.is_in(ids.iter().copied()))
        .filter(comment::Column::Visibility.eq(Visibility::Public))
        .order_by_asc(comment::Column::Id)
        .select_only()
        .columns([comment::Column::TicketId, comment::Column::Body])
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, body) in rows {
        out.entry(id).or_default().push(body);
    }
    Ok(out)
}

/// The text an article is found by.
pub fn article_text(a: &kb_article::Model) -> String {
    let tags: Vec<String> = serde_json::from_str(&a.tags).unwrap_or_default();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}",
        a.title,
        a.symptom,
        a.cause,
        a.resolution,
        a.body,
        tags.join(" "),
        a.product.as_deref().unwrap_or("")
    )
}

/// Indexes an article as it now is, in the caller's transaction.
pub async fn index_article(
    db: &impl ConnectionTrait,
    seg: &Segmenter,
    a: &kb_article::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    let doc = Doc {
        kind: DocKind::Article,
        ref_id: a.id,
        customer_id: None,
        status: a.state.as_str(),
        visibility: Some(a.visibility.as_str()),
    };
    upsert(db, vec![row(seg, doc, &article_text(a), now)]).await
}

/// What a search document says of what it finds.
struct Doc {
    kind: DocKind,
    ref_id: i64,
    customer_id: Option<i64>,
    status: &'static str,
    visibility: Option<&'static str>,
}

impl Doc {
    /// The scopes the document is in, as tokens of its own: the full-text index then finds a
    /// scope's documents itself (the 300 articles among 100,000 tickets without reading the
    /// tickets' postings). No typed word is made of these letters.
    fn scopes(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for scope in [Scope::ResolvedTickets, Scope::Articles, Scope::CustomerArticles] {
            let holds = match (scope, self.kind) {
                (Scope::ResolvedTickets, DocKind::Ticket) => {
                    matches!(self.status, "resolved" | "closed")
                }
                (Scope::Articles, DocKind::Article) => self.status != ArticleState::Retired.as_str(),
                (Scope::CustomerArticles, DocKind::Article) => {
                    self.status == ArticleState::Published.as_str()
                        && self.visibility == Some(ArticleVisibility::Customer.as_str())
                }
                _ => false,
            };
            if holds {
                out.push(scope.token());
            }
        }
        out
    }
}

/// The row of `doc` with the tokens of `text` and of its scopes.
fn row(seg: &Segmenter, doc: Doc, text: &str, now: DateTime<Utc>) -> search_doc::ActiveModel {
    let (mut tokens, mut terms) = seg.index_text(text);
    for scope in doc.scopes() {
        if !tokens.is_empty() {
            tokens.push(' ');
        }
        tokens.push_str(scope);
        terms += 1;
    }
    search_doc::ActiveModel {
        kind: Set(doc.kind),
        ref_id: Set(doc.ref_id),
        customer_id: Set(doc.customer_id),
        status: Set(doc.status.to_string()),
        visibility: Set(doc.visibility.map(str::to_string)),
        tokens: Set(tokens),
        terms: Set(i32::try_from(terms).unwrap_or(i32::MAX)),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Writes (or rewrites) the documents.
async fn upsert(db: &impl ConnectionTrait, rows: Vec<search_doc::ActiveModel>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    use search_doc::Column as C;
    search_doc::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([C::Kind, C::RefId])
                .update_columns([C::CustomerId, C::Status, C::Visibility, C::Tokens, C::Terms, C::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn ticket_doc(t: &ticket::Model) -> Doc {
    Doc {
        kind: DocKind::Ticket,
        ref_id: t.id,
        customer_id: Some(t.customer_id),
        status: t.status.as_str(),
        visibility: None,
    }
}

/// The full-text condition that a document holds every token (`all`) or any.
fn matching(sql: &mut Sql, tokens: &[&str], all: bool) {
    if sql.is_postgres() {
        let joined = tokens.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(if all { " & " } else { " | " });
        sql.push("d.tsv @@ CAST(").bind(joined).push(" AS tsquery)");
    } else {
        let joined =
            tokens.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(if all { " AND " } else { " OR " });
        sql.push("search_fts MATCH ").bind(joined);
    }
}

/// The full-text condition that a document of `scope` holds every token (`all`) or any.
fn scoped(sql: &mut Sql, tokens: &[&str], all: bool, scope: Scope) {
    let (and, or, quote) = if sql.is_postgres() { (" & ", " | ", '\'') } else { (" AND ", " OR ", '"') };
    let words =
        tokens.iter().map(|t| format!("{quote}{t}{quote}")).collect::<Vec<_>>().join(if all { and } else { or });
    let query = format!("{quote}{}{quote}{and}({words})", scope.token());
    if sql.is_postgres() {
        sql.push("d.tsv @@ CAST(").bind(query).push(" AS tsquery)");
    } else {
        sql.push("search_fts MATCH ").bind(query);
    }
}

/// `FROM` the documents, joined to SQLite's full-text table. `CROSS JOIN` keeps the full-text
/// match the outer loop: SQLite's planner would otherwise scan the documents and evaluate the
/// match once per row.
fn from(sql: &mut Sql) {
    if sql.is_postgres() {
        sql.push(" FROM search_docs d WHERE ");
    } else {
        sql.push(" FROM search_fts CROSS JOIN search_docs d ON d.id = search_fts.rowid WHERE ");
    }
}

/// The condition "the ticket holds every word of `text`", for a ticket query; `None` when the
/// text has no word to search for.
pub fn tickets_holding(backend: DatabaseBackend, seg: &Segmenter, text: &str) -> Option<SimpleExpr> {
    holding(backend, seg, text, DocKind::Ticket, "\"tickets\".\"id\"")
}

/// [`tickets_holding`] for articles.
pub fn articles_holding(backend: DatabaseBackend, seg: &Segmenter, text: &str) -> Option<SimpleExpr> {
    holding(backend, seg, text, DocKind::Article, "\"kb_articles\".\"id\"")
}

fn holding(backend: DatabaseBackend, seg: &Segmenter, text: &str, kind: DocKind, id: &str) -> Option<SimpleExpr> {
    let words = seg.required(text);
    if words.is_empty() {
        return None;
    }
    let tokens: Vec<&str> = words.iter().map(|w| w.token.as_str()).collect();
    let mut sql = Sql::new(backend);
    sql.push(id).push(" IN (SELECT d.ref_id");
    from(&mut sql);
    matching(&mut sql, &tokens, true);
    sql.push(" AND d.kind = ").bind(kind.as_str()).push(")");
    let (text, values) = sql.into_parts();
    Some(Expr::cust_with_values(text, values))
}

/// Which documents a search may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Resolved and closed tickets, of any customer.
    ResolvedTickets,
    /// Articles not retired (staff).
    Articles,
    /// Published customer articles (contacts, the portal).
    CustomerArticles,
}

impl Scope {
    /// The token every document of the scope holds.
    fn token(self) -> &'static str {
        match self {
            Scope::ResolvedTickets => "qxqscoperesolvedtickets",
            Scope::Articles => "qxqscopearticles",
            Scope::CustomerArticles => "qxqscopecustomerarticles",
        }
    }
}

/// A ranked document: its id, customer, score and the words it matched.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub score: f64,
    pub matched: Vec<String>,
}

/// How many documents hold each token (up to [`FREQUENCY_CAP`]), and how many there are.
async fn stats(db: &impl ConnectionTrait, tokens: &[&str]) -> Result<Stats> {
    let backend = db.get_database_backend();
    let mut holding = HashMap::new();
    let mut sql = Sql::new(backend);
    // Each word's documents counted up to the cap, so that a common word costs no more than a
    // rare one (counting them all would read every posting of it).
    for (i, t) in tokens.iter().enumerate() {
        sql.push(if i == 0 { "SELECT " } else { " UNION ALL SELECT " }).bind(t.to_string());
        sql.push(" AS term, (SELECT count(*) FROM (SELECT 1");
        sql.push(if sql.is_postgres() { " FROM search_docs d WHERE " } else { " FROM search_fts WHERE " });
        matching(&mut sql, &[t], true);
        sql.push(&format!(" LIMIT {FREQUENCY_CAP}) x) AS n"));
    }
    for r in db.query_all_raw(sql.statement()).await? {
        let term: String = r.try_get("", "term")?;
        let n: i64 = r.try_get("", "n")?;
        holding.insert(term, (n.max(0) as u64).min(FREQUENCY_CAP));
    }
    // The highest id stands for the number of documents (rows are rarely deleted): one index
    // lookup, where counting reads them all.
    let count = "SELECT COALESCE(MAX(id), 0) AS n FROM search_docs";
    let documents = match db.query_one_raw(Sql::new(backend).push(count).statement()).await? {
        Some(r) => u64::try_from(r.try_get::<i64>("", "n")?).unwrap_or(0),
        None => 0,
    };
    Ok(Stats { documents, holding })
}

/// A text's ranking words and how many documents hold each: asked once, then for each scope.
pub struct Similar {
    words: Vec<QueryWord>,
    stats: Stats,
    /// The words documents hold, rarest first, at most [`SEEKING_WORDS`].
    rarest: Vec<(String, u64)>,
}

impl Similar {
    pub async fn of(state: &AppState, text: &str) -> Result<Self> {
        let mut words = state.search.ranking(text);
        words.truncate(MAX_WORDS);
        if words.is_empty() {
            return Ok(Similar { words, stats: Stats::default(), rarest: Vec::new() });
        }
        let tokens: Vec<&str> = words.iter().map(|w| w.token.as_str()).collect();
        let stats = stats(&state.db, &tokens).await?;
        let mut rarest: Vec<(String, u64)> = tokens
            .iter()
            .map(|t| (t.to_string(), stats.holding.get(*t).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        rarest.sort_by_key(|(_, n)| *n);
        rarest.truncate(SEEKING_WORDS);
        Ok(Similar { words, stats, rarest })
    }

    /// The documents of `scope` most like the text, best first, at most `limit`.
    pub async fn in_scope(&self, db: &impl ConnectionTrait, scope: Scope, limit: usize) -> Result<Vec<Hit>> {
        let Some((first, n_first)) = self.rarest.first() else { return Ok(Vec::new()) };
        let rows = if *n_first < FREQUENCY_CAP {
            // The usual case: the rarest words are rare; any of them makes a candidate.
            let mut budget = 0;
            let mut seeking: Vec<&str> = self
                .rarest
                .iter()
                .take_while(|(_, n)| {
                    budget += n;
                    *n < FREQUENCY_CAP && budget <= SEEKING_BUDGET
                })
                .map(|(t, _)| t.as_str())
                .collect();
            if seeking.is_empty() {
                seeking.push(first);
            }
            candidates(db, &seeking, false, scope).await?
        } else {
            // Every word is common: documents holding the three rarest together, else two, else
            // one.
            let mut rows = Vec::new();
            for n in (1..=self.rarest.len().min(3)).rev() {
                let seeking: Vec<&str> = self.rarest[..n].iter().map(|(t, _)| t.as_str()).collect();
                rows = candidates(db, &seeking, true, scope).await?;
                if rows.len() >= ENOUGH_TOGETHER {
                    break;
                }
            }
            rows
        };
        Ok(ranked(&self.words, rows, &self.stats, limit))
    }
}

/// Candidates: documents of `scope` holding any of `seeking` (or, with `all`, every one), best
/// by the database's own rank.
async fn candidates(
    db: &impl ConnectionTrait,
    seeking: &[&str],
    all: bool,
    scope: Scope,
) -> Result<Vec<(i64, Option<i64>, String)>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT d.ref_id, d.customer_id, d.tokens");
    from(&mut sql);
    scoped(&mut sql, seeking, all, scope);
    match scope {
        Scope::ResolvedTickets => {
            sql.push(" AND d.kind = 'ticket' AND d.status IN ")
                .bind_list([Status::Resolved.as_str(), Status::Closed.as_str()]);
        }
        Scope::Articles => {
            sql.push(" AND d.kind = 'article' AND d.status <> ").bind(ArticleState::Retired.as_str());
        }
        Scope::CustomerArticles => {
            sql.push(" AND d.kind = 'article' AND d.status = ")
                .bind(ArticleState::Published.as_str())
                .push(" AND d.visibility = ")
                .bind(ArticleVisibility::Customer.as_str());
        }
    }
    if sql.is_postgres() {
        sql.push(" ORDER BY ts_rank(d.tsv, CAST(");
        let joined = seeking.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(if all { " & " } else { " | " });
        sql.bind(joined).push(" AS tsquery)) DESC, d.ref_id DESC");
    } else {
        sql.push(" ORDER BY search_fts.rank, d.ref_id DESC");
    }
    sql.push(&format!(" LIMIT {CANDIDATES}"));
    let mut out = Vec::new();
    for r in db.query_all_raw(sql.statement()).await? {
        out.push((r.try_get("", "ref_id")?, r.try_get("", "customer_id")?, r.try_get("", "tokens")?));
    }
    Ok(out)
}

/// BM25 over the candidates; ties go to the newer document.
fn ranked(words: &[QueryWord], rows: Vec<(i64, Option<i64>, String)>, stats: &Stats, limit: usize) -> Vec<Hit> {
    if rows.is_empty() {
        return Vec::new();
    }
    let average = rows.iter().map(|(_, _, t)| t.split(' ').count()).sum::<usize>() as f64 / rows.len() as f64;
    let mut hits: Vec<Hit> = rows
        .iter()
        .map(|(id, customer_id, tokens)| {
            let set: BTreeSet<&str> = tokens.split(' ').collect();
            let (score, matched) = rank::score(words, &set, average, stats);
            Hit { id: *id, customer_id: *customer_id, score, matched }
        })
        .filter(|h| h.score > 0.0)
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.id.cmp(&a.id)));
    hits.truncate(limit);
    hits
}

/// Tickets after id `after` with no search document yet (those opened before the index
/// existed), oldest first: a cursor, so that each batch reads on from the last.
pub async fn unindexed_tickets(db: &impl ConnectionTrait, after: i64, limit: u64) -> Result<Vec<i64>> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT t.id FROM tickets t WHERE t.id > ").bind(after).push(
        " AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = 'ticket' AND d.ref_id = t.id) ORDER BY t.id",
    );
    sql.push(&format!(" LIMIT {limit}"));
    let mut out = Vec::new();
    for r in db.query_all_raw(sql.statement()).await? {
        out.push(r.try_get::<i64>("", "id")?);
    }
    Ok(out)
}

/// Indexes every ticket that has no search document, a batch of 500 per transaction (one read
/// of the tickets, one of their comments, one write); how many it indexed.
pub async fn backfill(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    let (mut done, mut after) = (0u64, 0i64);
    loop {
        let ids = unindexed_tickets(&state.db, after, 500).await?;
        let Some(last) = ids.last() else { return Ok(done) };
        after = *last;
        let txn = state.db.begin().await?;
        let tickets = ticket::Entity::find().filter(ticket::Column::Id.is_in(ids.iter().copied())).all(&txn).await?;
        let mut comments = public_comments(&txn, &ids).await?;
        let rows = tickets
            .iter()
            .map(|t| {
                let bodies = comments.remove(&t.id).unwrap_or_default();
                row(&state.search, ticket_doc(t), &ticket_text(t, &bodies), now)
            })
            .collect();
        upsert(&txn, rows).await?;
        txn.commit().await?;
        done += ids.len() as u64;
        tracing::info!(indexed = done, "search index: indexed tickets opened before it existed");
    }
}
