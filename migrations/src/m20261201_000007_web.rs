//! Web sign-in sessions: the cookie carries a random id (signed); only its hash is stored, with
//! who signed in, the CSRF token of the session's forms and when it ends.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebSessions::Table)
                    .col(string_len(WebSessions::IdHash, 64).primary_key())
                    .col(big_integer_null(WebSessions::UserId))
                    .col(big_integer_null(WebSessions::ContactId))
                    .col(string_len(WebSessions::Csrf, 64))
                    .col(timestamp_with_time_zone(WebSessions::CreatedAt))
                    .col(timestamp_with_time_zone(WebSessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(manager, WebSessions::Table, "idx_web_sessions_expires", &[WebSessions::ExpiresAt]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebSessions::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WebSessions {
    Table,
    IdHash,
    UserId,
    ContactId,
    Csrf,
    CreatedAt,
    ExpiresAt,
}
