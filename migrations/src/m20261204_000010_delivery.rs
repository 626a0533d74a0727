//! Delivery a receiver can trust. An installation id, random and made once (here), so that the
//! ids Opsline writes into mail threads are this installation's alone; instances' liveness rows
//! (`instances`, a heartbeat every few seconds) and the instance holding each outbox lease
//! (`outbox.locked_by`), so that a dead instance's rows are taken over within seconds rather than
//! when their leases run out; a chain's pending rows indexed, for delivery in order; and a
//! customer's primary contact, who hears what is meant for "the
//! customer" about tickets that have no contact of their own.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Installation {
    Table,
    Singleton,
    Id,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    StartedAt,
    HeartbeatAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    LockedBy,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    PrimaryContactId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Installation::Table)
                    .col(integer(Installation::Singleton).primary_key().check(Expr::col(Installation::Singleton).eq(1)))
                    .col(string_len(Installation::Id, 32))
                    .to_owned(),
            )
            .await?;
        let random = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "replace(gen_random_uuid()::text, '-', '')",
            _ => "lower(hex(randomblob(16)))",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!("INSERT INTO installation (singleton, id) VALUES (1, {random})"))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Instances::Table)
                    .col(string_len(Instances::Id, 64).primary_key())
                    .col(timestamp_with_time_zone(Instances::StartedAt))
                    .col(timestamp_with_time_zone(Instances::HeartbeatAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Outbox::Table).add_column(string_len_null(Outbox::LockedBy, 64)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(big_integer_null(Customers::PrimaryContactId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Customers::Table).drop_column(Customers::PrimaryContactId).to_owned())
            .await?;
        manager.get_connection().execute_unprepared("DROP INDEX idx_outbox_pending_chain").await?;
        manager.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::LockedBy).to_owned()).await?;
        manager.drop_table(Table::drop().table(Instances::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Installation::Table).to_owned()).await
    }
}
