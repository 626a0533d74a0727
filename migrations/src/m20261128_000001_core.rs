//! Customers, contacts, teams, users, API tokens, tickets, comments, attachments, the ticket event
//! log, idempotency keys and the administrative audit log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(big_pk_auto(Customers::Id))
                    .col(string_len(Customers::Name, 200))
                    .col(string_len_uniq(Customers::Key, 64))
                    .col(string_len(Customers::Tier, 16))
                    .col(string_len(Customers::Calendar, 64))
                    .col(string_len(Customers::SlaPolicy, 64))
                    .col(timestamp_with_time_zone(Customers::CreatedAt))
                    .col(timestamp_with_time_zone(Customers::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .col(big_pk_auto(Teams::Id))
                    .col(string_len_uniq(Teams::Name, 64))
                    .col(string_len(Teams::DisplayName, 200))
                    .col(string_len_null(Teams::LeadUsername, 64))
                    .col(string_len_null(Teams::Email, 320))
                    .col(timestamp_with_time_zone(Teams::CreatedAt))
                    .col(timestamp_with_time_zone(Teams::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(string_len_uniq(Users::Username, 64))
                    .col(string_len(Users::DisplayName, 200))
                    .col(string_len_null(Users::Email, 320))
                    .col(string_len(Users::Role, 16))
                    .col(string_len(Users::Language, 8))
                    .col(big_integer_null(Users::TeamId))
                    .col(boolean(Users::Active))
                    .col(boolean(Users::Service))
                    .col(string_len_null(Users::PasswordHash, 200))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .foreign_key(ForeignKey::create().from(Users::Table, Users::TeamId).to(Teams::Table, Teams::Id))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(big_pk_auto(Contacts::Id))
                    .col(big_integer(Contacts::CustomerId))
                    .col(string_len(Contacts::Name, 200))
                    .col(string_len(Contacts::Email, 320))
                    .col(string_len_uniq(Contacts::EmailLower, 320))
                    .col(string_len_null(Contacts::Phone, 64))
                    .col(string_len_null(Contacts::PhoneDigits, 64))
                    .col(string_len(Contacts::Language, 8))
                    .col(boolean(Contacts::Active))
                    .col(timestamp_with_time_zone(Contacts::CreatedAt))
                    .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Contacts::Table, Contacts::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, Contacts::Table, "idx_contacts_customer", &[Contacts::CustomerId]).await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(big_pk_auto(ApiTokens::Id))
                    .col(string_len_uniq(ApiTokens::PublicId, 32))
                    .col(string_len(ApiTokens::SecretHash, 64))
                    .col(string_len(ApiTokens::Name, 200))
                    .col(big_integer_null(ApiTokens::UserId))
                    .col(big_integer_null(ApiTokens::ContactId))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create().from(ApiTokens::Table, ApiTokens::UserId).to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::ContactId)
                            .to(Contacts::Table, Contacts::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(big_pk_auto(Tickets::Id))
                    .col(string_len_uniq(Tickets::Number, 32))
                    .col(big_integer(Tickets::CustomerId))
                    .col(big_integer_null(Tickets::ContactId))
                    .col(string_len(Tickets::Title, 800))
                    .col(text(Tickets::Description))
                    .col(string_len(Tickets::Level, 4))
                    .col(string_len(Tickets::LevelSource, 16))
                    .col(text(Tickets::Classification))
                    .col(string_len(Tickets::Status, 32))
                    .col(big_integer_null(Tickets::AssigneeId))
                    .col(big_integer_null(Tickets::TeamId))
                    .col(string_len(Tickets::Source, 16))
                    .col(big_integer_null(Tickets::ParentId))
                    .col(text_null(Tickets::Plan))
                    .col(text_null(Tickets::Resolution))
                    .col(string_len_null(Tickets::PublicTitle, 800))
                    .col(big_integer_null(Tickets::CreatedByUserId))
                    .col(big_integer_null(Tickets::CreatedByContactId))
                    .col(timestamp_with_time_zone(Tickets::ReportedAt))
                    .col(timestamp_with_time_zone(Tickets::CreatedAt))
                    .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Tickets::WaitingSince))
                    .col(timestamp_with_time_zone_null(Tickets::ResolvedAt))
                    .col(timestamp_with_time_zone_null(Tickets::ClosedAt))
                    .col(integer(Tickets::Version))
                    .col(small_integer(Tickets::UrgencyBucket))
                    .col(big_integer(Tickets::UrgencyKey))
                    .col(boolean(Tickets::Breached))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tickets::Table, Tickets::CustomerId)
                            .to(Customers::Table, Customers::Id),
                    )
                    .foreign_key(
                        ForeignKey::create().from(Tickets::Table, Tickets::ContactId).to(Contacts::Table, Contacts::Id),
                    )
                    .foreign_key(
                        ForeignKey::create().from(Tickets::Table, Tickets::AssigneeId).to(Users::Table, Users::Id),
                    )
                    .foreign_key(ForeignKey::create().from(Tickets::Table, Tickets::TeamId).to(Teams::Table, Teams::Id))
                    .foreign_key(
                        ForeignKey::create().from(Tickets::Table, Tickets::ParentId).to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, Tickets::Table, "idx_tickets_customer", &[Tickets::CustomerId, Tickets::Id]).await?;
        index(manager, Tickets::Table, "idx_tickets_status", &[Tickets::Status, Tickets::Id]).await?;
        index(manager, Tickets::Table, "idx_tickets_parent", &[Tickets::ParentId]).await?;
        index(
            manager,
            Tickets::Table,
            "idx_tickets_urgency",
            &[Tickets::UrgencyBucket, Tickets::UrgencyKey, Tickets::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(big_pk_auto(IdempotencyKeys::Id))
                    .col(string_len(IdempotencyKeys::Principal, 64))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    .col(string_len(IdempotencyKeys::RequestHash, 64))
                    .col(big_integer(IdempotencyKeys::TicketId))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::TicketId)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            IdempotencyKeys::Table,
            "uq_idempotency_principal_key",
            &[IdempotencyKeys::Principal, IdempotencyKeys::Key],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Comments::Table)
                    .col(big_pk_auto(Comments::Id))
                    .col(big_integer(Comments::TicketId))
                    .col(string_len(Comments::AuthorKind, 16))
                    .col(big_integer_null(Comments::AuthorUserId))
                    .col(big_integer_null(Comments::AuthorContactId))
                    .col(string_len(Comments::AuthorName, 200))
                    .col(text(Comments::Body))
                    .col(string_len(Comments::Visibility, 16))
                    .col(timestamp_with_time_zone(Comments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create().from(Comments::Table, Comments::TicketId).to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, Comments::Table, "idx_comments_ticket", &[Comments::TicketId, Comments::Id]).await?;

        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .col(big_pk_auto(Attachments::Id))
                    .col(big_integer(Attachments::TicketId))
                    .col(string_len(Attachments::Filename, 255))
                    .col(string_len(Attachments::ContentType, 255))
                    .col(big_integer(Attachments::SizeBytes))
                    .col(string_len(Attachments::Sha256, 64))
                    .col(string_len(Attachments::Visibility, 16))
                    .col(blob(Attachments::Data))
                    .col(string_len(Attachments::UploaderKind, 16))
                    .col(big_integer_null(Attachments::UploaderUserId))
                    .col(big_integer_null(Attachments::UploaderContactId))
                    .col(string_len(Attachments::UploaderName, 200))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Attachments::Table, Attachments::TicketId)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, Attachments::Table, "idx_attachments_ticket", &[Attachments::TicketId]).await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketEvents::Table)
                    .col(big_pk_auto(TicketEvents::Id))
                    .col(big_integer(TicketEvents::TicketId))
                    .col(string_len(TicketEvents::ActorKind, 16))
                    .col(big_integer_null(TicketEvents::ActorId))
                    .col(string_len(TicketEvents::ActorName, 200))
                    .col(string_len(TicketEvents::Action, 64))
                    .col(text_null(TicketEvents::OldValue))
                    .col(text_null(TicketEvents::NewValue))
                    .col(text_null(TicketEvents::Note))
                    .col(timestamp_with_time_zone(TicketEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TicketEvents::Table, TicketEvents::TicketId)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, TicketEvents::Table, "idx_ticket_events_ticket", &[TicketEvents::TicketId, TicketEvents::Id])
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(string_len(AuditLog::ActorKind, 16))
                    .col(big_integer_null(AuditLog::ActorId))
                    .col(string_len(AuditLog::ActorName, 200))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::TargetKind, 32))
                    .col(big_integer_null(AuditLog::TargetId))
                    .col(text_null(AuditLog::Detail))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            TicketEvents::Table.into_iden(),
            Attachments::Table.into_iden(),
            Comments::Table.into_iden(),
            IdempotencyKeys::Table.into_iden(),
            Tickets::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Contacts::Table.into_iden(),
            Users::Table.into_iden(),
            Teams::Table.into_iden(),
            Customers::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Runs `postgres` or `sqlite`, the statements written for the connected database, in order.
pub(crate) async fn per_backend(manager: &SchemaManager<'_>, postgres: &[&str], sqlite: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let statements = match db.get_database_backend() {
        sea_orm_migration::sea_orm::DatabaseBackend::Postgres => postgres,
        _ => sqlite,
    };
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

pub(crate) async fn index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    name: &str,
    cols: &[C],
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(*c);
    }
    manager.create_index(stmt.to_owned()).await
}

pub(crate) async fn unique_index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    name: &str,
    cols: &[C],
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table).unique();
    for c in cols {
        stmt.col(*c);
    }
    manager.create_index(stmt.to_owned()).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Id,
    Name,
    Key,
    Tier,
    Calendar,
    SlaPolicy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Teams {
    Table,
    Id,
    Name,
    DisplayName,
    LeadUsername,
    Email,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    Email,
    Role,
    Language,
    TeamId,
    Active,
    Service,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Contacts {
    Table,
    Id,
    CustomerId,
    Name,
    Email,
    EmailLower,
    Phone,
    PhoneDigits,
    Language,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiTokens {
    Table,
    Id,
    PublicId,
    SecretHash,
    Name,
    UserId,
    ContactId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Tickets {
    Table,
    Id,
    Number,
    CustomerId,
    ContactId,
    Title,
    Description,
    Level,
    LevelSource,
    Classification,
    Status,
    AssigneeId,
    TeamId,
    Source,
    ParentId,
    Plan,
    Resolution,
    PublicTitle,
    CreatedByUserId,
    CreatedByContactId,
    ReportedAt,
    CreatedAt,
    UpdatedAt,
    WaitingSince,
    ResolvedAt,
    ClosedAt,
    Version,
    UrgencyBucket,
    UrgencyKey,
    Breached,
}

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKeys {
    Table,
    Id,
    Principal,
    Key,
    RequestHash,
    TicketId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Comments {
    Table,
    Id,
    TicketId,
    AuthorKind,
    AuthorUserId,
    AuthorContactId,
    AuthorName,
    Body,
    Visibility,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Attachments {
    Table,
    Id,
    TicketId,
    Filename,
    ContentType,
    SizeBytes,
    Sha256,
    Visibility,
    Data,
    UploaderKind,
    UploaderUserId,
    UploaderContactId,
    UploaderName,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketEvents {
    Table,
    Id,
    TicketId,
    ActorKind,
    ActorId,
    ActorName,
    Action,
    OldValue,
    NewValue,
    Note,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    ActorKind,
    ActorId,
    ActorName,
    Action,
    TargetKind,
    TargetId,
    Detail,
    CreatedAt,
}
