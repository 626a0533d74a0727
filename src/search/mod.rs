//! Words for search, Chinese and English alike, cut the same way when a document is indexed and
//! when someone searches (jieba, HMM off on both sides; a custom dictionary of product and module
//! names from `search.dictionary`).
//!
//! A document's tokens are a set of:
//! - jieba's search-mode words of every Chinese run (a long word and the shorter words in it);
//! - every two-character pair of every Chinese run, so that any two-character word a caller types
//!   finds every document that contains it, whether or not the dictionary knows the word;
//! - lowercased Latin words and numbers, and identifiers joined by `-`, `.` or `_` both whole
//!   (`ORA-12170` → `ora12170`) and in parts (`ora`, `12170`).
//!
//! Tokens hold only letters and digits, so they are the database's own words: SQLite FTS5's
//! `unicode61` and PostgreSQL's `tsvector` store them as written.

pub mod similar;

/// Longer runs of letters and digits (a pasted blob, a hash) are not words anyone searches for,
/// and PostgreSQL refuses lexemes past 2 KB.
const MAX_TOKEN_BYTES: usize = 64;
/// A document keeps at most this many bytes of tokens (PostgreSQL's `tsvector` holds at most
/// 1 MB).
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

use std::collections::BTreeSet;

use jieba_rs::Jieba;

/// Cuts text into search tokens. Built once per instance (loading the dictionary takes a fifth
/// of a second).
pub struct Segmenter {
    jieba: Jieba,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Segmenter")
    }
}

/// One word of a query: the token it matches and the text the caller typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    pub token: String,
    pub typed: String,
}

/// A stretch of text: Chinese characters, or anything else.
enum Run<'a> {
    Han(&'a str),
    Other(&'a str),
}

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF | 0x30000..=0x3134F)
}

fn runs(text: &str) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut han: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let h = is_han(c);
        if han.is_some_and(|was| was != h) {
            out.push(if h { Run::Other(&text[start..i]) } else { Run::Han(&text[start..i]) });
            start = i;
        }
        han = Some(h);
    }
    if let Some(h) = han {
        out.push(if h { Run::Han(&text[start..]) } else { Run::Other(&text[start..]) });
    }
    out
}

/// The characters' two-character pairs.
fn pairs(chars: &[char]) -> impl Iterator<Item = String> + '_ {
    chars.windows(2).map(|w| w.iter().collect())
}

/// Latin words and numbers of a non-Chinese run, lowercased: each identifier joined by `-`, `.`,
/// `_` or `/` whole and in parts, in order.
fn latin(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for chunk in text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '/'))) {
        let parts: Vec<String> = chunk
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| !p.is_empty() && p.len() <= MAX_TOKEN_BYTES)
            .map(str::to_lowercase)
            .collect();
        if parts.is_empty() {
            continue;
        }
        let whole = parts.concat();
        if whole.len() <= MAX_TOKEN_BYTES {
            out.push((whole, parts));
        } else {
            out.extend(parts.into_iter().map(|p| (p.clone(), vec![p])));
        }
    }
    out
}

impl Segmenter {
    /// jieba's dictionary and `words` (product and module names, error codes) as whole words.
    pub fn new(words: &[String]) -> Self {
        let mut jieba = Jieba::new();
        for w in words {
            let w = w.trim();
            if !w.is_empty() {
                // A high frequency keeps the name whole against the general dictionary's cuts.
                jieba.add_word(w, Some(100_000), None);
            }
        }
        Self { jieba }
    }

    /// The tokens of a document, each once, sorted.
    pub fn index_tokens(&self, text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for run in runs(text) {
            match run {
                Run::Han(s) => {
                    for t in self.jieba.cut_for_search(s, false) {
                        if t.word.chars().count() > 1 && t.word.len() <= MAX_TOKEN_BYTES {
                            out.insert(t.word.to_string());
                        }
                    }
                    let chars: Vec<char> = s.chars().collect();
                    out.extend(pairs(&chars));
                }
                Run::Other(s) => {
                    for (whole, parts) in latin(s) {
                        if parts.len() > 1 {
                            out.extend(parts);
                        }
                        out.insert(whole);
                    }
                }
            }
        }
        out
    }

    /// A document's tokens as the database stores them: space-separated, at most
    /// [`MAX_DOCUMENT_BYTES`] of them.
    pub fn index_text(&self, text: &str) -> (String, usize) {
        let mut out = String::new();
        let mut n = 0;
        for t in self.index_tokens(text) {
            if out.len() + t.len() + 1 > MAX_DOCUMENT_BYTES {
                break;
            }
            if n > 0 {
                out.push(' ');
            }
            out.push_str(&t);
            n += 1;
        }
        (out, n)
    }

    /// jieba's precise words of a Chinese run, each with the tokens it stands for: a two-character
    /// word itself; a longer word itself (when `whole`) and its pairs; a stretch of single
    /// characters (a typo, a word the dictionary lacks) its pairs. A lone character stands for
    /// nothing.
    fn han_words(&self, s: &str, whole: bool, out: &mut Vec<QueryWord>) {
        let mut singles: Vec<char> = Vec::new();
        let flush = |singles: &mut Vec<char>, out: &mut Vec<QueryWord>| {
            let typed: String = singles.iter().collect();
            for p in pairs(singles) {
                push(out, p, typed.clone());
            }
            singles.clear();
        };
        for t in self.jieba.cut(s, false) {
            let chars: Vec<char> = t.word.chars().collect();
            if chars.len() == 1 {
                singles.extend(chars);
                continue;
            }
            flush(&mut singles, out);
            if chars.len() == 2 || whole {
                push(out, t.word.to_string(), t.word.to_string());
            }
            if chars.len() > 2 {
                for p in pairs(&chars) {
                    push(out, p, t.word.to_string());
                }
            }
        }
        flush(&mut singles, out);
    }

    fn query(&self, text: &str, whole: bool) -> Vec<QueryWord> {
        let mut out: Vec<QueryWord> = Vec::new();
        for run in runs(text) {
            match run {
                Run::Han(s) => self.han_words(s, whole, &mut out),
                Run::Other(s) => {
                    for (joined, _) in latin(s) {
                        push(&mut out, joined.clone(), joined);
                    }
                }
            }
        }
        out
    }

    /// The words a keyword search requires, each of which a matching document holds: Chinese
    /// words as their two-character pairs (so a word matches wherever its characters stand
    /// together, whether the dictionary knows it or not), identifiers whole, other words as typed.
    pub fn required(&self, text: &str) -> Vec<QueryWord> {
        self.query(text, false)
    }

    /// The words that rank similar documents: [`Self::required`] and the longer words whole.
    pub fn ranking(&self, text: &str) -> Vec<QueryWord> {
        self.query(text, true)
    }
}

fn push(out: &mut Vec<QueryWord>, token: String, typed: String) {
    if !out.iter().any(|w| w.token == token) {
        out.push(QueryWord { token, typed });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg() -> Segmenter {
        Segmenter::new(&["NC65".to_string(), "凭证生成".to_string()])
    }

    #[test]
    fn a_document_holds_words_pairs_and_identifiers() {
        let t = seg().index_tokens("NC65凭证生成报错：ORA-12170 TNS连接超时");
        for w in ["nc65", "凭证生成", "凭证", "生成", "报错", "证生", "ora12170", "ora", "12170", "tns", "连接", "超时"]
        {
            assert!(t.contains(w), "{w} missing from {t:?}");
        }
        assert!(t.iter().all(|w| w.chars().all(char::is_alphanumeric)), "{t:?}");
    }

    #[test]
    fn every_two_character_word_of_a_text_is_found_by_a_keyword_search() {
        let s = seg();
        let text = "系统登录后打印模板崩溃，待处理单据无法审批";
        let doc = s.index_tokens(text);
        let chars: Vec<char> = text.chars().filter(|c| is_han(*c)).collect();
        for w in chars.windows(2) {
            let q: String = w.iter().collect();
            if !text.contains(&q) {
                continue;
            }
            for word in s.required(&q) {
                assert!(doc.contains(&word.token), "{q}: {} not in {doc:?}", word.token);
            }
        }
    }

    #[test]
    fn blobs_are_not_words_and_a_document_is_bounded() {
        let s = seg();
        let blob = "x".repeat(200);
        let t = s.index_tokens(&format!("log {blob} end id-{blob}"));
        assert!(t.iter().all(|w| w.len() <= MAX_TOKEN_BYTES), "{t:?}");
        assert!(t.contains("log") && t.contains("end") && t.contains("id"), "{t:?}");
        let huge: String = (0..200_000).map(|i| format!("w{i} ")).collect();
        let (stored, n) = s.index_text(&huge);
        assert!(stored.len() <= MAX_DOCUMENT_BYTES && n > 50_000, "{n} tokens, {} bytes", stored.len());
    }

    #[test]
    fn queries_keep_identifiers_whole_and_drop_lone_characters() {
        let s = seg();
        let r: Vec<String> = s.required("ORA-12170 又 了").into_iter().map(|w| w.token).collect();
        assert_eq!(r, ["ora12170"]);
        let k: Vec<String> =
            s.ranking("凭证生成报错 java.lang.OutOfMemoryError").into_iter().map(|w| w.token).collect();
        assert!(k.contains(&"凭证生成".to_string()) && k.contains(&"报错".to_string()), "{k:?}");
        assert!(k.contains(&"javalangoutofmemoryerror".to_string()), "{k:?}");
        // A typo the dictionary does not know still ranks by its pairs.
        let typo: Vec<String> = s.ranking("凭正生成").into_iter().map(|w| w.token).collect();
        assert!(!typo.is_empty(), "{typo:?}");
    }
}
