//! "Contains this text" as a LIKE pattern that takes the text literally on SQLite and PostgreSQL:
//! `%`, `_` and the escape character itself are escaped, and the escape character is named in
//! the query (`ESCAPE '\'`) rather than left to each database's default.

use sea_orm::sea_query::LikeExpr;

const ESCAPE: char = '\\';

/// A pattern matching any text that contains `text`.
pub fn containing(text: &str) -> LikeExpr {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | ESCAPE) {
            p.push(ESCAPE);
        }
        p.push(c);
    }
    p.push('%');
    LikeExpr::new(p).escape(ESCAPE)
}
