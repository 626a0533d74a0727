//! The similarity index: which documents are most like a text, ranked by BM25. It is a projection
//! of the database's `search_docs`, held in memory by each instance (tantivy) and fed from the
//! database (`services::search::Feed`): never the source of truth, rebuilt at every start.
//!
//! Each scope a document is in has a field of its own holding the document's tokens, so a search
//! of one scope is a plain disjunction of its words, which tantivy ranks top-k without visiting
//! every document that holds a common word; and each scope's BM25 statistics (how many documents
//! hold a word, their average length) count that scope's documents only.

use std::collections::HashSet;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::domain::kb::DocKind;

/// Our tokens are already cut and normalised (`crate::search`): they are split on spaces only.
const TOKENIZER: &str = "opsline_tokens";
/// The writer's memory: past it, tantivy writes a segment (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 32_000_000;
/// How many more hits than asked for are ranked, so that ties go to the newer document.
const TIES: usize = 4;

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
    pub const ALL: [Scope; 3] = [Scope::ResolvedTickets, Scope::Articles, Scope::CustomerArticles];

    fn field_name(self) -> &'static str {
        match self {
            Scope::ResolvedTickets => "resolved_tickets",
            Scope::Articles => "articles",
            Scope::CustomerArticles => "customer_articles",
        }
    }
}

/// A document as the index needs it: what it is, the scopes it is in (none: it is only taken
/// out), and its tokens.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: DocKind,
    pub ref_id: i64,
    pub customer_id: Option<i64>,
    pub scopes: Vec<Scope>,
    pub tokens: String,
}

/// A document found: its id (a ticket's or an article's), a ticket's customer, its BM25 score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub score: f32,
}

pub struct SimilarIndex {
    reader: IndexReader,
    writer: Mutex<Writing>,
    key: Field,
    id: Field,
    customer: Field,
    scopes: [Field; 3],
}

impl std::fmt::Debug for SimilarIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimilarIndex")
    }
}

fn key(kind: DocKind, ref_id: i64) -> String {
    format!("{}:{ref_id}", kind.as_str())
}

/// The writer, and which documents the index holds (written, published or not).
///
/// Each delete tantivy queues costs about a kilobyte until the next commit (a term query's
/// weight), so a delete is asked for only when the index holds the document: a first build of a
/// million documents, or a million documents out of every scope (open tickets), queues none.
struct Writing {
    writer: IndexWriter,
    held: HashSet<(DocKind, i64)>,
}

impl SimilarIndex {
    /// An empty index in memory.
    pub fn new() -> tantivy::Result<Self> {
        let mut schema = Schema::builder();
        let key = schema.add_text_field("key", STRING);
        let id = schema.add_i64_field("id", FAST);
        let customer = schema.add_i64_field("customer", FAST);
        let words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::WithFreqs),
        );
        let scopes = Scope::ALL.map(|s| schema.add_text_field(s.field_name(), words.clone()));
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(TOKENIZER, TextAnalyzer::builder(WhitespaceTokenizer::default()).build());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writing = Writing { writer, held: HashSet::new() };
        Ok(Self { reader, writer: Mutex::new(writing), key, id, customer, scopes })
    }

    fn field(&self, scope: Scope) -> Field {
        self.scopes[scope as usize]
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writing> {
        // A panic while writing leaves nothing half-done that a later write could trip on: the
        // writer's own state is consistent between calls.
        self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces each entry's document (by kind and id); searches see them after [`Self::publish`].
    pub fn write(&self, entries: &[Entry]) -> tantivy::Result<()> {
        let mut w = self.writer();
        let Writing { writer, held } = &mut *w;
        for e in entries {
            // The key is formatted only for a delete or an add: at start, every open ticket is
            // neither.
            if e.scopes.is_empty() {
                if held.remove(&(e.kind, e.ref_id)) {
                    writer.delete_term(Term::from_field_text(self.key, &key(e.kind, e.ref_id)));
                }
                continue;
            }
            let key = key(e.kind, e.ref_id);
            if !held.insert((e.kind, e.ref_id)) {
                writer.delete_term(Term::from_field_text(self.key, &key));
            }
            let mut doc = TantivyDocument::default();
            doc.add_text(self.key, &key);
            doc.add_i64(self.id, e.ref_id);
            if let Some(c) = e.customer_id {
                doc.add_i64(self.customer, c);
            }
            for s in &e.scopes {
                doc.add_text(self.field(*s), &e.tokens);
            }
            writer.add_document(doc)?;
        }
        Ok(())
    }

    /// Makes everything written so far visible to searches.
    pub fn publish(&self) -> tantivy::Result<()> {
        self.writer().writer.commit()?;
        self.reader.reload()
    }

    /// How many documents the index holds (in at least one scope).
    pub fn held(&self) -> usize {
        self.writer().held.len()
    }

    /// The documents of `scope` holding any of `tokens`, best first (ties: the newer document),
    /// at most `limit`.
    pub fn search(&self, scope: Scope, tokens: &[&str], limit: usize) -> tantivy::Result<Vec<Found>> {
        if tokens.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let field = self.field(scope);
        let clauses: Vec<(Occur, Box<dyn Query>)> = tokens
            .iter()
            .map(|t| {
                let term = TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::WithFreqs);
                (Occur::Should, Box::new(term) as Box<dyn Query>)
            })
            .collect();
        let searcher = self.reader.searcher();
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit * TIES).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, at) in top {
            let fast = searcher.segment_reader(at.segment_ord).fast_fields();
            let Some(id) = fast.i64("id")?.first(at.doc_id) else { continue };
            out.push(Found { id, customer_id: fast.i64("customer")?.first(at.doc_id), score });
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.id.cmp(&a.id)));
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, scopes: &[Scope], tokens: &str) -> Entry {
        Entry {
            kind: DocKind::Ticket,
            ref_id: id,
            customer_id: Some(7),
            scopes: scopes.to_vec(),
            tokens: tokens.into(),
        }
    }

    #[test]
    fn ranks_by_rare_words_keeps_scopes_apart_and_replaces_documents() {
        let index = SimilarIndex::new().unwrap();
        let r = [Scope::ResolvedTickets];
        let mut docs = vec![entry(1, &r, "凭证 报错 nc65"), entry(2, &r, "报错 登录"), entry(3, &r, "报错 打印")];
        docs.extend((10..40).map(|i| entry(i, &r, "报错 其他")));
        docs.push(Entry { kind: DocKind::Article, ..entry(1, &[Scope::Articles], "凭证 生成") });
        // Open tickets, in no scope: nothing held, nothing to take out later.
        let open: Vec<Entry> = (100..110).map(|i| entry(i, &[], "报错 打开")).collect();
        index.write(&open).unwrap();
        index.write(&docs).unwrap();
        index.publish().unwrap();
        assert_eq!(index.held(), docs.len());
        let found = index.search(Scope::ResolvedTickets, &["凭证", "报错"], 3).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!((found[0].id, found[0].customer_id), (1, Some(7)), "{found:?}");
        assert!(found[0].score > found[1].score);
        // Equal scores: the newer document first.
        assert!(found[1].id > found[2].id, "{found:?}");
        let articles = index.search(Scope::Articles, &["凭证"], 5).unwrap();
        assert_eq!(articles.iter().map(|f| f.id).collect::<Vec<_>>(), [1]);
        assert!(index.search(Scope::CustomerArticles, &["凭证"], 5).unwrap().is_empty());

        // Rewritten without the word, then out of every scope (reopened): no longer found.
        index.write(&[entry(1, &r, "登录 超时")]).unwrap();
        index.publish().unwrap();
        assert!(index.search(Scope::ResolvedTickets, &["凭证"], 5).unwrap().is_empty());
        assert_eq!(index.search(Scope::ResolvedTickets, &["超时"], 5).unwrap()[0].id, 1);
        index.write(&[entry(1, &[], "登录 超时")]).unwrap();
        index.publish().unwrap();
        assert!(index.search(Scope::ResolvedTickets, &["超时"], 5).unwrap().is_empty());
        assert_eq!(index.held(), docs.len() - 1);
        // The article of the same id is still found: documents are told apart by kind.
        assert_eq!(index.search(Scope::Articles, &["凭证"], 5).unwrap().len(), 1);
        assert!(index.search(Scope::ResolvedTickets, &[], 5).unwrap().is_empty());
    }
}
