//! Customer contacts in the portal: an optional password (argon2) and one-time links, e-mailed,
//! that sign a contact in or let them set a password. A link's row makes it single-use; the
//! link itself is signed with `web.secret_key`, so no usable secret is stored.
//! Tickets keep the staff-written `public_title` the status page shows (the column exists).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Contacts::Table).add_column(text_null(Contacts::PasswordHash)).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContactLinks::Table)
                    .col(big_pk_auto(ContactLinks::Id))
                    .col(big_integer(ContactLinks::ContactId))
                    .col(string_len(ContactLinks::Purpose, 16))
                    .col(timestamp_with_time_zone(ContactLinks::CreatedAt))
                    .col(timestamp_with_time_zone(ContactLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ContactLinks::UsedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, ContactLinks::Table, "idx_contact_links_contact", &[ContactLinks::ContactId]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ContactLinks::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Contacts::Table).drop_column(Contacts::PasswordHash).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Contacts {
    Table,
    PasswordHash,
}

#[derive(DeriveIden, Clone, Copy)]
enum ContactLinks {
    Table,
    Id,
    ContactId,
    Purpose,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
