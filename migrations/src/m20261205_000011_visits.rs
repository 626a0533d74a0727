//! On-site service. A field engineer is a user with `field` settings (region, skills, calendar,
//! as JSON); `engineer_blocks` hold the time an engineer is not free (leave, training); `visits`
//! hold each visit of a ticket: its state, the agreed and offered windows, the engineer, the
//! site, the actual times with the clock each counted at, the work done and the customer's
//! signature. Visits of one engineer are found by window. A one-time portal link may be for
//! signing a visit's work order (`contact_links.visit_id`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Field,
    CalendarToken,
}

#[derive(DeriveIden)]
enum ContactLinks {
    Table,
    VisitId,
}

#[derive(DeriveIden)]
enum EngineerBlocks {
    Table,
    Id,
    UserId,
    Kind,
    StartAt,
    EndAt,
    Note,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Visits {
    Table,
    Id,
    TicketId,
    State,
    EngineerId,
    WindowStart,
    WindowEnd,
    OfferedStart,
    Chooser,
    TravelSecs,
    ClashOverride,
    SiteAddress,
    SiteContact,
    SitePhone,
    Note,
    DepartedAt,
    ArrivedAt,
    NoAccessAt,
    CompletedAt,
    WorkSummary,
    Parts,
    Outcome,
    SignerName,
    Signature,
    SignatureSha256,
    SignedAt,
    Clocks,
    CancelReason,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Users::Table).add_column(text_null(Users::Field)).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(Users::Table).add_column(string_len_null(Users::CalendarToken, 64)).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EngineerBlocks::Table)
                    .col(big_pk_auto(EngineerBlocks::Id))
                    .col(big_integer(EngineerBlocks::UserId))
                    .col(string_len(EngineerBlocks::Kind, 16))
                    .col(timestamp_with_time_zone(EngineerBlocks::StartAt))
                    .col(timestamp_with_time_zone(EngineerBlocks::EndAt))
                    .col(text_null(EngineerBlocks::Note))
                    .col(timestamp_with_time_zone(EngineerBlocks::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_engineer_blocks_user")
                    .table(EngineerBlocks::Table)
                    .col(EngineerBlocks::UserId)
                    .col(EngineerBlocks::StartAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Visits::Table)
                    .col(big_pk_auto(Visits::Id))
                    .col(big_integer(Visits::TicketId))
                    .col(string_len(Visits::State, 16))
                    .col(big_integer_null(Visits::EngineerId))
                    .col(timestamp_with_time_zone_null(Visits::WindowStart))
                    .col(timestamp_with_time_zone_null(Visits::WindowEnd))
                    .col(timestamp_with_time_zone_null(Visits::OfferedStart))
                    .col(string_len_null(Visits::Chooser, 16))
                    .col(big_integer(Visits::TravelSecs).default(0))
                    .col(text_null(Visits::ClashOverride))
                    .col(text(Visits::SiteAddress))
                    .col(text(Visits::SiteContact))
                    .col(text_null(Visits::SitePhone))
                    .col(text_null(Visits::Note))
                    .col(timestamp_with_time_zone_null(Visits::DepartedAt))
                    .col(timestamp_with_time_zone_null(Visits::ArrivedAt))
                    .col(timestamp_with_time_zone_null(Visits::NoAccessAt))
                    .col(timestamp_with_time_zone_null(Visits::CompletedAt))
                    .col(text_null(Visits::WorkSummary))
                    .col(text(Visits::Parts).default("[]"))
                    .col(string_len_null(Visits::Outcome, 16))
                    .col(text_null(Visits::SignerName))
                    .col(blob_null(Visits::Signature))
                    .col(string_len_null(Visits::SignatureSha256, 64))
                    .col(timestamp_with_time_zone_null(Visits::SignedAt))
                    .col(text(Visits::Clocks).default("[]"))
                    .col(text_null(Visits::CancelReason))
                    .col(timestamp_with_time_zone(Visits::CreatedAt))
                    .col(timestamp_with_time_zone(Visits::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_visits_ticket", vec![Visits::TicketId]),
            ("idx_visits_engineer_window", vec![Visits::EngineerId, Visits::WindowStart]),
            ("idx_visits_window", vec![Visits::WindowStart]),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(Visits::Table);
            for c in cols {
                idx.col(c);
            }
            manager.create_index(idx.to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ContactLinks::Table)
                    .add_column(big_integer_null(ContactLinks::VisitId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(ContactLinks::Table).drop_column(ContactLinks::VisitId).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(Visits::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(EngineerBlocks::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::CalendarToken).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::Field).to_owned()).await
    }
}
