//! A hand-written statement with its values bound in the backend's own placeholders (`?` on
//! SQLite, `$1`… on PostgreSQL), for the queries sea-query cannot express (full-text search).

use sea_orm::{DatabaseBackend, Statement, Value};

pub struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DatabaseBackend) -> Self {
        Self { backend, text: String::new(), values: Vec::new() }
    }

    /// The text and the values: for sea-query's `Expr::cust_with_values`, which takes the same
    /// placeholders (numbered from `$1` within the fragment on PostgreSQL).
    pub fn into_parts(self) -> (String, Vec<Value>) {
        (self.text, self.values)
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == DatabaseBackend::Postgres
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `v`.
    pub fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        if self.is_postgres() {
            let n = self.values.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }

    /// Appends `(?, ?, …)` bound to `values`; `(NULL)` when there are none, which matches nothing.
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        self.push("(");
        let mut first = true;
        for v in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.bind(v);
        }
        if first {
            self.push("NULL");
        }
        self.push(")")
    }

    pub fn statement(&self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text.clone(), self.values.clone())
    }
}
