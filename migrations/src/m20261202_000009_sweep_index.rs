//! Leaner SLA timer indexes for the sweep. Every sweep writes each due timer (its next firing, its
//! breach), and such an update adds an entry to every index of the table, so the table keeps only
//! indexes that queries use: the `(state, due_at)` index served none, and the sweep's index holds
//! only timers still to fire (`next_fire_at` set, not finished) — small, and untouched when a
//! timer stops firing. The sweep's and the gauges' conditions (`next_fire_at <= $1 AND outcome IS
//! NULL`) imply its predicate whatever the parameter, so prepared statements use it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX idx_sla_timers_state_due").await?;
        db.execute_unprepared("DROP INDEX idx_sla_timers_next_fire").await?;
        db.execute_unprepared(
            "CREATE INDEX idx_sla_timers_next_fire ON sla_timers (next_fire_at) \
             WHERE next_fire_at IS NOT NULL AND outcome IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX idx_sla_timers_next_fire").await?;
        db.execute_unprepared("CREATE INDEX idx_sla_timers_next_fire ON sla_timers (next_fire_at)").await?;
        db.execute_unprepared("CREATE INDEX idx_sla_timers_state_due ON sla_timers (state, due_at)").await?;
        Ok(())
    }
}
