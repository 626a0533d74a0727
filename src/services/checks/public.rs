//! What the public status page may show about checks: only those tagged `public`, under their
//! `public_name`, with their health and the passes and failures of each of the last days from the
//! daily rollups.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::super::error::Result;
use super::def_of;
use crate::domain::check::{Health, RollupPeriod};
use crate::persistence::entities::{check, check_rollup};
use crate::state::AppState;

/// A public check and its days, oldest first.
pub struct PublicCheck {
    pub name: String,
    pub health: Health,
    /// `(day start, passes, failures)` for each of the days asked for.
    pub days: Vec<(DateTime<Utc>, i64, i64)>,
}

/// The public checks, by name, with the last `days` days (today included).
pub async fn public_checks(state: &AppState, days: i64, now: DateTime<Utc>) -> Result<Vec<PublicCheck>> {
    let today = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let first = today - Duration::days(days - 1);
    let mut public: Vec<(check::Model, String)> = Vec::new();
    // Only rows whose tags (a JSON array) name `public` are read and parsed: the page is public
    // and unauthenticated, and most checks are private.
    for c in check::Entity::find().filter(check::Column::Tags.contains("\"public\"")).all(&state.db).await? {
        let Ok(def) = def_of(&c) else { continue };
        if def.spec.tags.iter().any(|t| t == "public")
            && let Some(name) = def.spec.public_name.clone()
        {
            public.push((c, name));
        }
    }
    let ids: Vec<i64> = public.iter().map(|(c, _)| c.id).collect();
    let rollups = check_rollup::Entity::find()
        .filter(check_rollup::Column::CheckId.is_in(ids))
        .filter(check_rollup::Column::Period.eq(RollupPeriod::Day))
        .filter(check_rollup::Column::BucketStart.gte(first))
        .all(&state.db)
        .await?;
    let mut by: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
    for r in rollups {
        let e = by.entry((r.check_id, (r.bucket_start - first).num_days())).or_default();
        e.0 += i64::from(r.passes);
        e.1 += i64::from(r.failures);
    }
    let mut out: Vec<PublicCheck> = public
        .into_iter()
        .map(|(c, name)| PublicCheck {
            name,
            health: c.health,
            days: (0..days)
                .map(|d| {
                    let (p, f) = by.get(&(c.id, d)).copied().unwrap_or_default();
                    (first + Duration::days(d), p, f)
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
