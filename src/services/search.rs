//! The search index in the database: every ticket's and article's tokens ([`crate::search`]) in
//! `search_docs`, written in the transaction that changed them, so every instance sees one index
//! and nothing else runs. Keyword search (a ticket list's `q=`) requires every word, in the
//! database's full-text index. Similar documents (suggestions) are ranked by BM25 in each
//! instance's similarity index ([`crate::search::similar`]), a projection of `search_docs` that
//! [`Feed`] brings up to date from the database before every search.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::error::{Error, Result};
use crate::domain::kb::{ArticleState, ArticleVisibility, DocKind};
use crate::domain::ticket::{Status, Visibility};
use crate::persistence::entities::{comment, kb_article, search_doc, ticket};
use crate::persistence::raw::Sql;
pub use crate::search::similar::Scope;
use crate::search::similar::{Entry, SimilarIndex};
use crate::search::{QueryWord, Segmenter};
use crate::state::AppState;

/// At most this many words of a text rank.
const MAX_WORDS: usize = 48;
/// The similarity index reads this many changed documents at a time.
const FEED_PAGE: u64 = 2000;

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

/// The scopes a document is in.
fn scopes(kind: DocKind, status: &str, visibility: Option<&str>) -> Vec<Scope> {
    Scope::ALL
        .into_iter()
        .filter(|scope| match (scope, kind) {
            (Scope::ResolvedTickets, DocKind::Ticket) => {
                status == Status::Resolved.as_str() || status == Status::Closed.as_str()
            }
            (Scope::Articles, DocKind::Article) => status != ArticleState::Retired.as_str(),
            (Scope::CustomerArticles, DocKind::Article) => {
                status == ArticleState::Published.as_str() && visibility == Some(ArticleVisibility::Customer.as_str())
            }
            _ => false,
        })
        .collect()
}

/// The row of `doc` with the tokens of `text`.
fn row(seg: &Segmenter, doc: Doc, text: &str, now: DateTime<Utc>) -> search_doc::ActiveModel {
    let (tokens, terms) = seg.index_text(text);
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

/// A ranked document: its id, customer, score and the words it matched.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub score: f64,
    pub matched: Vec<String>,
}

/// What the similarity index needs of a document row.
fn entry(d: search_doc::Model) -> Entry {
    let scopes = scopes(d.kind, &d.status, d.visibility.as_deref());
    // Documents written before the index existed held their scopes as tokens of their own.
    let tokens = d.tokens.split(' ').filter(|t| !t.starts_with("qxqscope")).collect::<Vec<_>>().join(" ");
    Entry { kind: d.kind, ref_id: d.ref_id, customer_id: d.customer_id, scopes, tokens }
}

/// Keeps this instance's similarity index up to date with `search_docs`: before each search it
/// reads the documents written since it last read (all of them the first time) and writes them
/// into the index. Every instance sharing the database thus sees every document committed
/// before its search began, whichever instance wrote it.
#[derive(Default)]
pub struct Feed {
    fed: tokio::sync::Mutex<Option<Fed>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

struct Fed {
    index: Arc<SimilarIndex>,
    /// The `(written, id)` of the last document read: the next read starts after it.
    after: (i64, i64),
}

/// Runs index work (CPU, no I/O) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> tantivy::Result<T> + Send + 'static) -> Result<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(Error::internal)??)
}

impl Feed {
    /// The index holding every document committed before this call; how many documents it read.
    pub async fn current(&self, db: &impl ConnectionTrait) -> Result<(Arc<SimilarIndex>, u64)> {
        let mut fed = self.fed.lock().await;
        let fed = match &mut *fed {
            Some(f) => f,
            None => fed.insert(Fed { index: Arc::new(blocking(SimilarIndex::new).await?), after: (0, 0) }),
        };
        // PostgreSQL's transactions commit out of order: a transaction still running may have
        // written a lower `written` than one seen now. Everything older than the oldest one
        // running is complete, so the next read starts there (reading some documents again).
        let horizon = if db.get_database_backend() == DatabaseBackend::Postgres {
            let sql = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon";
            let row = db.query_one_raw(Sql::new(DatabaseBackend::Postgres).push(sql).statement()).await?;
            Some(row.map(|r| r.try_get::<i64>("", "horizon")).transpose()?.unwrap_or(0))
        } else {
            None
        };
        let mut read = 0u64;
        loop {
            let docs = written_after(db, fed.after, FEED_PAGE).await?;
            let Some(last) = docs.last() else { break };
            let (next, full) = ((last.written, last.id), docs.len() as u64 == FEED_PAGE);
            read += docs.len() as u64;
            let entries: Vec<Entry> = docs.into_iter().map(entry).collect();
            let index = fed.index.clone();
            blocking(move || index.write(&entries)).await?;
            // Only once written: a failure reads the same documents again next time.
            fed.after = next;
            if !full {
                break;
            }
        }
        if read > 0 {
            let index = fed.index.clone();
            blocking(move || index.publish()).await?;
        }
        if let Some(horizon) = horizon {
            fed.after = fed.after.min((horizon, 0));
        }
        Ok((fed.index.clone(), read))
    }
}

/// Documents written after `(written, id)`, in that order.
async fn written_after(db: &impl ConnectionTrait, after: (i64, i64), limit: u64) -> Result<Vec<search_doc::Model>> {
    let mut sql = Sql::new(db.get_database_backend());
    // The columns of the entity (not PostgreSQL's `tsv`, as large as the tokens).
    sql.push("SELECT id, kind, ref_id, customer_id, status, visibility, tokens, terms, updated_at, written");
    sql.push(" FROM search_docs WHERE (written, id) > (").bind(after.0).push(", ").bind(after.1);
    sql.push(&format!(") ORDER BY written, id LIMIT {limit}"));
    Ok(search_doc::Entity::find().from_raw_sql(sql.statement()).all(db).await?)
}

/// A text's ranking words, and the similarity index brought up to date: asked once, then for
/// each scope.
pub struct Similar {
    words: Vec<QueryWord>,
    index: Option<Arc<SimilarIndex>>,
}

impl Similar {
    pub async fn of(state: &AppState, text: &str) -> Result<Self> {
        let mut words = state.search.ranking(text);
        words.truncate(MAX_WORDS);
        if words.is_empty() {
            return Ok(Similar { words, index: None });
        }
        let (index, _) = state.similar.current(&state.db).await?;
        Ok(Similar { words, index: Some(index) })
    }

    /// The documents of `scope` most like the text, best first, at most `limit`, each with the
    /// words it matched.
    pub async fn in_scope(&self, db: &impl ConnectionTrait, scope: Scope, limit: usize) -> Result<Vec<Hit>> {
        let Some(index) = &self.index else { return Ok(Vec::new()) };
        let mut tokens: Vec<&str> = self.words.iter().map(|w| w.token.as_str()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        let found = index.search(scope, &tokens, limit)?;
        let kind = if scope == Scope::ResolvedTickets { DocKind::Ticket } else { DocKind::Article };
        let held: HashMap<i64, String> = search_doc::Entity::find()
            .filter(search_doc::Column::Kind.eq(kind))
            .filter(search_doc::Column::RefId.is_in(found.iter().map(|f| f.id)))
            .select_only()
            .columns([search_doc::Column::RefId, search_doc::Column::Tokens])
            .into_tuple::<(i64, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let mut hits = Vec::new();
        for f in found {
            // A document deleted since the index last read is not found.
            let Some(tokens) = held.get(&f.id) else { continue };
            let set: BTreeSet<&str> = tokens.split(' ').collect();
            let mut matched: Vec<String> = Vec::new();
            for w in self.words.iter().filter(|w| set.contains(w.token.as_str())) {
                if !matched.contains(&w.typed) {
                    matched.push(w.typed.clone());
                }
            }
            hits.push(Hit { id: f.id, customer_id: f.customer_id, score: f64::from(f.score), matched });
        }
        Ok(hits)
    }
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
