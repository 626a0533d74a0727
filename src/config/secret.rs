//! Secrets in configuration: a plain string or `{ secret_file = "/path" }`. They never appear in
//! `Debug` output or logs.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(SecretString::from(s.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Plain(String),
    File { secret_file: String },
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a string or a table `{ secret_file = \"/path\" }`"))?
        {
            Raw::Plain(s) => Ok(Secret::new(s)),
            Raw::File { secret_file } => {
                let text = std::fs::read_to_string(&secret_file)
                    .map_err(|e| serde::de::Error::custom(format!("cannot read secret_file `{secret_file}`: {e}")))?;
                Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
            }
        }
    }
}

/// A database URL with any password replaced, for logs and `check-config`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/opsline"), "postgres://app:***@db:5432/opsline");
        assert_eq!(redact_url("sqlite://./data/opsline.db"), "sqlite://./data/opsline.db");
    }
}
