//! Fault levels I–IV (docs/sla.md §1). I is the most severe.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    I,
    II,
    III,
    IV,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::I, Level::II, Level::III, Level::IV];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::I => "I",
            Level::II => "II",
            Level::III => "III",
            Level::IV => "IV",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// What the values are, for messages.
    pub const WHAT: &'static str = "level";

    /// Exactly `I`, `II`, `III` or `IV`, as stored.
    pub fn parse(s: &str) -> Option<Self> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a level: use I, II, III or IV")]
pub struct LevelParseError(pub String);

impl FromStr for Level {
    type Err = LevelParseError;

    /// Level keys match case-insensitively (README: Configuration).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "I" => Ok(Level::I),
            "II" => Ok(Level::II),
            "III" => Ok(Level::III),
            "IV" => Ok(Level::IV),
            _ => Err(LevelParseError(s.to_string())),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
