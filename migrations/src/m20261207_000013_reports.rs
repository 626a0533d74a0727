//! Service reports. `timer_outcomes` holds each finished timer's outcome, written once when the
//! timer ends and never updated (level, timer, cycle, start, deadline, when met, whether breached,
//! working seconds paused and late, the policy and calendar versions it ran on): reports read
//! only these rows, so a past period regenerates identically whatever the configuration does
//! later. Timers that had ended before this migration are copied here; their working-time figures
//! need the calendar engine and are filled in once by the service (`paused_secs` and `late_secs`
//! are null until then). `reports` holds each generated report: its period, language, the frozen
//! content as JSON and that content's SHA-256; a scheduled one its `schedule_key` (unique: made
//! once per customer and period across instances); and the customer's decision on it —
//! acknowledged or disputed, by whom, when, on which hash, why, and the ticket a dispute opened.
//! Each customer gets a report schedule (`weekly`, `monthly` or `none`), its recipients (e-mail
//! addresses, JSON) and an account lead (the user a dispute is for).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::{index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TimerOutcomes {
    Table,
    Id,
    TimerId,
    TicketId,
    CustomerId,
    Kind,
    Cycle,
    Level,
    Outcome,
    StartedAt,
    DueAt,
    MetAt,
    FinishedAt,
    Breached,
    PausedSecs,
    LateSecs,
    PolicyVersionId,
    CalendarVersionId,
    RecordedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Reports {
    Table,
    Id,
    CustomerId,
    Kind,
    PeriodStart,
    PeriodEnd,
    Language,
    Content,
    Sha256,
    CreatedBy,
    CreatedAt,
    ScheduleKey,
    Decision,
    DecidedAt,
    DecidedBy,
    DecidedSha256,
    DisputeReason,
    DisputeTicketId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    ReportSchedule,
    ReportRecipients,
    AccountLeadId,
}

/// Every timer that ended before this migration, with its ticket's customer.
const BACKFILL: &str = "INSERT INTO timer_outcomes (timer_id, ticket_id, customer_id, kind, cycle, level, outcome, \
     started_at, due_at, met_at, finished_at, breached, policy_version_id, calendar_version_id, recorded_at) \
     SELECT t.id, t.ticket_id, k.customer_id, t.kind, t.cycle, t.level, t.outcome, t.started_at, t.due_at, \
     t.met_at, COALESCE(t.finished_at, t.met_at, t.updated_at), t.breached, t.policy_version_id, \
     t.calendar_version_id, t.updated_at \
     FROM sla_timers t JOIN tickets k ON k.id = t.ticket_id WHERE t.outcome IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TimerOutcomes::Table)
                    .col(big_pk_auto(TimerOutcomes::Id))
                    .col(big_integer(TimerOutcomes::TimerId))
                    .col(big_integer(TimerOutcomes::TicketId))
                    .col(big_integer(TimerOutcomes::CustomerId))
                    .col(string_len(TimerOutcomes::Kind, 16))
                    .col(integer(TimerOutcomes::Cycle))
                    .col(string_len(TimerOutcomes::Level, 4))
                    .col(string_len(TimerOutcomes::Outcome, 16))
                    .col(timestamp_with_time_zone(TimerOutcomes::StartedAt))
                    .col(timestamp_with_time_zone_null(TimerOutcomes::DueAt))
                    .col(timestamp_with_time_zone_null(TimerOutcomes::MetAt))
                    .col(timestamp_with_time_zone(TimerOutcomes::FinishedAt))
                    .col(boolean(TimerOutcomes::Breached))
                    .col(big_integer_null(TimerOutcomes::PausedSecs))
                    .col(big_integer_null(TimerOutcomes::LateSecs))
                    .col(big_integer(TimerOutcomes::PolicyVersionId))
                    .col(big_integer(TimerOutcomes::CalendarVersionId))
                    .col(timestamp_with_time_zone(TimerOutcomes::RecordedAt))
                    .to_owned(),
            )
            .await?;
        unique_index(manager, TimerOutcomes::Table, "uq_timer_outcomes_timer", &[TimerOutcomes::TimerId]).await?;
        index(
            manager,
            TimerOutcomes::Table,
            "idx_timer_outcomes_customer_finished",
            &[TimerOutcomes::CustomerId, TimerOutcomes::FinishedAt],
        )
        .await?;
        manager.get_connection().execute_unprepared(BACKFILL).await?;

        manager
            .create_table(
                Table::create()
                    .table(Reports::Table)
                    .col(big_pk_auto(Reports::Id))
                    .col(big_integer(Reports::CustomerId))
                    .col(string_len(Reports::Kind, 16))
                    .col(timestamp_with_time_zone(Reports::PeriodStart))
                    .col(timestamp_with_time_zone(Reports::PeriodEnd))
                    .col(string_len(Reports::Language, 8))
                    .col(text(Reports::Content))
                    .col(string_len(Reports::Sha256, 64))
                    .col(text(Reports::CreatedBy))
                    .col(timestamp_with_time_zone(Reports::CreatedAt))
                    .col(string_len_null(Reports::ScheduleKey, 64))
                    .col(string_len_null(Reports::Decision, 16))
                    .col(timestamp_with_time_zone_null(Reports::DecidedAt))
                    .col(text_null(Reports::DecidedBy))
                    .col(string_len_null(Reports::DecidedSha256, 64))
                    .col(text_null(Reports::DisputeReason))
                    .col(big_integer_null(Reports::DisputeTicketId))
                    .to_owned(),
            )
            .await?;
        index(manager, Reports::Table, "idx_reports_customer_period", &[Reports::CustomerId, Reports::PeriodStart])
            .await?;
        // A scheduled report is made once per customer and period, however many instances run.
        unique_index(manager, Reports::Table, "uq_reports_schedule_key", &[Reports::ScheduleKey]).await?;
        for col in [
            ColumnDef::new(Customers::ReportSchedule).string_len(16).not_null().default("weekly").to_owned(),
            ColumnDef::new(Customers::ReportRecipients).text().not_null().default("[]").to_owned(),
            ColumnDef::new(Customers::AccountLeadId).big_integer().null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Customers::Table).add_column(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [Customers::AccountLeadId, Customers::ReportRecipients, Customers::ReportSchedule] {
            manager.alter_table(Table::alter().table(Customers::Table).drop_column(col).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(Reports::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TimerOutcomes::Table).to_owned()).await
    }
}
