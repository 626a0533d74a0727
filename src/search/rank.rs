//! Okapi BM25 over token sets: every query word a document holds adds its inverse document
//! frequency, discounted for long documents. The same arithmetic on SQLite and PostgreSQL, so a
//! suggestion ranks the same on both.

use std::collections::{BTreeSet, HashMap};

use super::QueryWord;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// How many documents hold each query word, and how many there are.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub documents: u64,
    pub holding: HashMap<String, u64>,
}

impl Stats {
    /// BM25's inverse document frequency of `token` (never negative).
    pub fn idf(&self, token: &str) -> f64 {
        let n = self.documents.max(1) as f64;
        let df = (self.holding.get(token).copied().unwrap_or(0) as f64).min(n);
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}

/// A document's score for the query and the words it matched (as typed, each once).
pub fn score(query: &[QueryWord], tokens: &BTreeSet<&str>, average_len: f64, stats: &Stats) -> (f64, Vec<String>) {
    let len = tokens.len() as f64;
    let norm = K1 * (1.0 - B + B * len / average_len.max(1.0));
    let mut total = 0.0;
    let mut matched: Vec<String> = Vec::new();
    for w in query {
        if tokens.contains(w.token.as_str()) {
            total += stats.idf(&w.token) * (K1 + 1.0) / (1.0 + norm);
            if !matched.contains(&w.typed) {
                matched.push(w.typed.clone());
            }
        }
    }
    (total, matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(t: &str) -> QueryWord {
        QueryWord { token: t.into(), typed: t.into() }
    }

    #[test]
    fn rarer_words_and_shorter_documents_score_higher() {
        let stats = Stats { documents: 100, holding: [("报错".into(), 60), ("凭证".into(), 3)].into() };
        let q = [w("凭证"), w("报错")];
        let rare: BTreeSet<&str> = ["凭证", "x"].into();
        let common: BTreeSet<&str> = ["报错", "x"].into();
        let both_long: BTreeSet<&str> = ["凭证", "报错", "a", "b", "c", "d", "e", "f"].into();
        let both_short: BTreeSet<&str> = ["凭证", "报错"].into();
        let s = |t: &BTreeSet<&str>| score(&q, t, 4.0, &stats).0;
        assert!(s(&rare) > s(&common));
        assert!(s(&both_short) > s(&both_long));
        assert!(s(&both_short) > s(&rare));
        assert_eq!(score(&q, &both_short, 4.0, &stats).1, ["凭证", "报错"]);
        assert!(stats.idf("unknown") > stats.idf("凭证") && stats.idf("报错") > 0.0);
    }
}
