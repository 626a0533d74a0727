//! Probing: what a check is (`spec`), how each kind is run (`probe`, `host`). No database and no
//! clock here: services schedule checks and store their results.

pub mod dns;
pub mod host;
pub mod probe;
pub mod promql;
pub mod secret;
pub mod spec;
pub mod tls;
