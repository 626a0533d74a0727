//! The canonical, self-contained form of a calendar or SLA policy: what is hashed and stored as a
//! configuration version, and what a version stored by another instance is rebuilt from.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::calendar::{Calendar, DayHours, parse_dates, parse_interval};
use crate::domain::level::Level;
use crate::domain::sla::{LevelTargets, SlaPolicy, Target, TimerKind};

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarContent {
    pub timezone: String,
    pub always: bool,
    /// Weekday (`mon` …) to intervals, sorted.
    pub hours: BTreeMap<String, Vec<String>>,
    /// Single dates, sorted, includes resolved.
    pub holidays: Vec<String>,
    pub workdays: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyContent {
    pub pause_exempt: Vec<String>,
    /// `I` … `IV` to `{response, plan, resolution[, arrival][, callback]}` in canonical form.
    pub levels: BTreeMap<String, BTreeMap<String, String>>,
}

/// A named configuration object with the hash of its canonical JSON.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub name: String,
    pub value: Arc<T>,
    pub content: String,
    pub hash: String,
}

pub fn hash_of(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

impl CalendarContent {
    pub fn build(&self) -> Result<Calendar, String> {
        if self.always {
            return Calendar::always(&self.timezone).map_err(|e| e.to_string());
        }
        let mut week: [DayHours; 7] = Default::default();
        for (i, day) in WEEKDAYS.iter().enumerate() {
            if let Some(list) = self.hours.get(*day) {
                week[i] = DayHours::new(list.iter().map(|s| parse_interval(s)).collect::<Result<_, _>>()?);
            }
        }
        let dates = |v: &[String]| -> Result<Vec<jiff::civil::Date>, String> {
            v.iter().map(|s| parse_dates(s)).collect::<Result<Vec<_>, _>>().map(|v| v.concat())
        };
        Calendar::weekly(&self.timezone, week, dates(&self.holidays)?, dates(&self.workdays)?)
            .map_err(|e| e.to_string())
    }

    pub fn versioned(&self, name: &str) -> Result<Versioned<Calendar>, String> {
        let content = serde_json::to_string(self).map_err(|e| e.to_string())?;
        Ok(Versioned { name: name.to_string(), value: Arc::new(self.build()?), hash: hash_of(&content), content })
    }
}

impl PolicyContent {
    pub fn build(&self) -> Result<SlaPolicy, String> {
        let pause_exempt = self.pause_exempt.iter().map(|s| s.parse::<TimerKind>()).collect::<Result<Vec<_>, _>>()?;
        let mut levels = Vec::with_capacity(4);
        for level in Level::ALL {
            let t = self.levels.get(level.as_str()).ok_or_else(|| format!("level {level} is missing"))?;
            let get = |k: &str| -> Result<Target, String> {
                t.get(k).ok_or_else(|| format!("{level}.{k} is missing"))?.parse::<Target>().map_err(|e| e.to_string())
            };
            levels.push(LevelTargets {
                response: get("response")?,
                plan: get("plan")?,
                resolution: get("resolution")?,
                arrival: t.get("arrival").map(|a| a.parse::<Target>()).transpose().map_err(|e| e.to_string())?,
                callback: t.get("callback").map(|a| a.parse::<Target>()).transpose().map_err(|e| e.to_string())?,
            });
        }
        let levels: [LevelTargets; 4] = levels.try_into().map_err(|_| "four levels are needed".to_string())?;
        Ok(SlaPolicy { pause_exempt, levels })
    }

    pub fn versioned(&self, name: &str) -> Result<Versioned<SlaPolicy>, String> {
        let content = serde_json::to_string(self).map_err(|e| e.to_string())?;
        Ok(Versioned { name: name.to_string(), value: Arc::new(self.build()?), hash: hash_of(&content), content })
    }

    pub fn of(policy: &SlaPolicy) -> Self {
        let mut pause_exempt: Vec<String> = policy.pause_exempt.iter().map(|k| k.to_string()).collect();
        pause_exempt.sort();
        pause_exempt.dedup();
        let levels = Level::ALL
            .iter()
            .map(|l| {
                let t = policy.targets(*l);
                // Only the timers the level has: a policy without arrival hashes as it always did.
                let m = TimerKind::ALL.iter().filter_map(|k| Some((k.to_string(), t.get(*k)?.to_string()))).collect();
                (l.to_string(), m)
            })
            .collect();
        Self { pause_exempt, levels }
    }
}
