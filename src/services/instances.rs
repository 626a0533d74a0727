//! Instances sharing one database, and who may take whose outbox rows. Every instance that runs
//! workers keeps a row in `instances` with a heartbeat, refreshed every few seconds (and whenever
//! it leases rows); each lease names its holder (`outbox.locked_by`). A row is claimable when its
//! lease has run out, or when its holder's heartbeat is older than `delivery.takeover_secs`:
//! a crashed instance's rows are sent again within seconds, never while it is alive. An instance
//! with a stable name (`delivery.instance_name`) takes back its own rows as it starts; one that
//! stops gives its rows back and leaves.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Condition, Expr, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::error::Result;
use crate::domain::delivery::DeliveryStatus;
use crate::persistence::entities::{installation, instance, outbox};
use crate::state::AppState;

/// A lease refreshes the heartbeat at most this often (the heartbeat loop beats anyway).
const BEAT_EVERY_MS: i64 = 1000;

/// This instance: its name, when it last wrote its heartbeat, and when a heartbeat last came
/// after a silence long enough that others may have taken its rows (its clock, milliseconds).
pub struct Instance {
    pub id: String,
    stable: bool,
    last_beat_ms: AtomicI64,
    gap_ms: AtomicI64,
}

impl Instance {
    /// `name` from `delivery.instance_name`; empty: a random name for this start.
    pub fn new(name: &str) -> Self {
        let name = name.trim();
        let (id, stable) = if name.is_empty() {
            (format!("instance-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]), false)
        } else {
            (name.chars().take(64).collect(), true)
        };
        Self { id, stable, last_beat_ms: AtomicI64::new(i64::MIN), gap_ms: AtomicI64::new(i64::MIN) }
    }

    /// Records a heartbeat written at `now_ms`; a silence before it of more than half the
    /// takeover time is a gap (others, whose clocks may differ a little, may have judged this
    /// instance dead).
    fn beaten(&self, now_ms: i64, takeover_ms: i64) {
        let prev = self.last_beat_ms.swap(now_ms, Ordering::SeqCst);
        if prev == i64::MIN || now_ms < prev || now_ms - prev > takeover_ms / 2 {
            self.gap_ms.fetch_max(now_ms, Ordering::SeqCst);
        }
    }

    /// Whether this instance has looked alive to every other without a break from `since` to
    /// `now`: then no row it leased at `since` can have been taken over.
    pub fn held_throughout(&self, since: DateTime<Utc>, now: DateTime<Utc>, takeover: Duration) -> bool {
        let (last, gap) = (self.last_beat_ms.load(Ordering::SeqCst), self.gap_ms.load(Ordering::SeqCst));
        let half = takeover.num_milliseconds() / 2;
        last != i64::MIN && gap <= since.timestamp_millis() && (0..=half).contains(&(now.timestamp_millis() - last))
    }
}

/// This installation's random id, made by the migration that created its table (made here if the
/// row is missing).
pub async fn installation_id(db: &sea_orm::DatabaseConnection) -> Result<String> {
    if let Some(row) = installation::Entity::find().one(db).await? {
        return Ok(row.id);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    installation::Entity::insert(installation::ActiveModel { singleton: Set(1), id: Set(id) })
        .on_conflict(OnConflict::column(installation::Column::Singleton).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    let row = installation::Entity::find().one(db).await?;
    Ok(row.map(|r| r.id).unwrap_or_default())
}

/// Writes this instance's heartbeat now.
pub async fn beat(state: &AppState, now: DateTime<Utc>) -> Result<()> {
    let me = &state.instance;
    instance::Entity::insert(instance::ActiveModel {
        id: Set(me.id.clone()),
        started_at: Set(now),
        heartbeat_at: Set(now),
    })
    .on_conflict(OnConflict::column(instance::Column::Id).update_column(instance::Column::HeartbeatAt).to_owned())
    .exec_without_returning(&state.db)
    .await?;
    me.beaten(now.timestamp_millis(), state.takeover().num_milliseconds());
    Ok(())
}

/// Writes the heartbeat unless it was written within the last second: called before this instance
/// leases rows, so that a lease is never written by an instance that looks dead.
pub async fn beat_if_due(state: &AppState, now: DateTime<Utc>) -> Result<()> {
    let last = state.instance.last_beat_ms.load(Ordering::SeqCst);
    let ms = now.timestamp_millis();
    if last == i64::MIN || ms < last || ms - last >= BEAT_EVERY_MS {
        beat(state, now).await?;
    }
    Ok(())
}

/// As this instance starts its workers: its first heartbeat and, with a stable name, the rows an
/// earlier run of it held back in the outbox at once. Returns how many rows came back.
pub async fn start(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    beat(state, now).await?;
    if !state.instance.stable {
        return Ok(0);
    }
    release_mine(state, now).await
}

/// As this instance stops: the rows it still holds go back to the outbox and its row goes, so
/// that others send them now. Returns how many rows went back.
pub async fn leave(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    state.handoff.take(usize::MAX);
    let released = release_mine(state, now).await?;
    instance::Entity::delete_by_id(state.instance.id.clone()).exec(&state.db).await?;
    Ok(released)
}

async fn release_mine(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    Ok(outbox::Entity::update_many()
        .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(outbox::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
        .filter(outbox::Column::Status.eq(DeliveryStatus::Pending))
        .filter(outbox::Column::LockedBy.eq(state.instance.id.clone()))
        .exec(&state.db)
        .await?
        .rows_affected)
}

/// Outbox rows nobody holds: never leased, their lease over, or leased by an instance whose
/// heartbeat is older than `delivery.takeover_secs` (or that left).
pub fn unheld(state: &AppState, now: DateTime<Utc>) -> Condition {
    let alive_since = now - state.takeover();
    let alive = Query::select()
        .column(instance::Column::Id)
        .from(instance::Entity)
        .and_where(instance::Column::HeartbeatAt.gte(alive_since))
        .to_owned();
    Condition::any().add(outbox::Column::LockedUntil.is_null()).add(outbox::Column::LockedUntil.lt(now)).add(
        Condition::all()
            .add(outbox::Column::LockedBy.is_not_null())
            .add(outbox::Column::LockedBy.not_in_subquery(alive)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    #[test]
    fn rows_are_held_throughout_only_while_beats_come_without_a_gap() {
        let me = Instance::new("a");
        let takeover = Duration::seconds(10);
        assert!(!me.held_throughout(at(0), at(0), takeover), "never beaten");
        me.beaten(1_000, 10_000);
        // The first beat is a gap: rows leased before it are doubtful, after it held.
        assert!(!me.held_throughout(at(500), at(2_000), takeover));
        assert!(me.held_throughout(at(1_500), at(2_000), takeover));
        for t in [4_000, 7_000, 10_000] {
            me.beaten(t, 10_000);
        }
        assert!(me.held_throughout(at(1_500), at(12_000), takeover));
        assert!(!me.held_throughout(at(1_500), at(15_001), takeover), "silent for more than half the takeover time");
        // A stall of 12 s, then a beat: rows leased before it may be someone else's now.
        me.beaten(22_000, 10_000);
        assert!(!me.held_throughout(at(1_500), at(22_500), takeover));
        assert!(me.held_throughout(at(22_100), at(22_500), takeover));
    }
}
