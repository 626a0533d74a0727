//! The domain's enumerations in text columns, under the names they have everywhere else
//! (`Status::Open` is stored as `open`). A stored value that no variant has is an error naming
//! the table, the row and the value — never a default.

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, StringLen, Value, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable};

use crate::domain::actor::ActorKind;
use crate::domain::check::{Health, InspectionStatus, RollupPeriod};
use crate::domain::customer::{Language, Tier};
use crate::domain::delivery::{Channel, DeliveryStatus, MessageKind};
use crate::domain::kb::{ArticleState, ArticleVisibility, DocKind, KbOutcome};
use crate::domain::level::Level;
use crate::domain::report::{Decision, ReportKind, ReportSchedule};
use crate::domain::sla::{Outcome, TimerKind, TimerState};
use crate::domain::ticket::{Event, Role, Source, Status, Visibility};
use crate::domain::visit::{BlockKind, VisitOutcome, VisitState, WindowChooser};

/// The error for a stored value no variant has.
fn unknown(res: &QueryResult, column: Option<&str>, what: &str, value: &str) -> DbErr {
    let table = super::entities::table_of(&res.column_names());
    let row = res.try_get_by::<i64, _>("id").map_or_else(|_| "a row".to_string(), |id| format!("row {id}"));
    let column = column.unwrap_or("a column");
    DbErr::Type(format!("{table}, {row}: `{column}` holds `{value}`, which is not a {what}"))
}

macro_rules! stored_as_text {
    ($($t:ty),+ $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::String(Some(v.as_str().to_string()))
            }
        }

        impl Nullable for $t {
            fn null() -> Value {
                Value::String(None)
            }
        }

        impl ValueType for $t {
            fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
                match v {
                    Value::String(Some(s)) => <$t>::parse(&s).ok_or(ValueTypeErr),
                    _ => Err(ValueTypeErr),
                }
            }

            fn type_name() -> String {
                stringify!($t).to_string()
            }

            fn array_type() -> ArrayType {
                ArrayType::String
            }

            fn column_type() -> ColumnType {
                ColumnType::String(StringLen::None)
            }
        }

        impl TryGetable for $t {
            fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
                let s = <String as TryGetable>::try_get_by(res, idx)?;
                <$t>::parse(&s).ok_or_else(|| TryGetError::DbErr(unknown(res, idx.as_str(), <$t>::WHAT, &s)))
            }
        }
    )+};
}

stored_as_text!(
    ActorKind,
    Health,
    InspectionStatus,
    Status,
    Source,
    Role,
    Event,
    Visibility,
    Level,
    TimerKind,
    TimerState,
    Outcome,
    Tier,
    Language,
    DeliveryStatus,
    Channel,
    MessageKind,
    VisitState,
    VisitOutcome,
    WindowChooser,
    BlockKind,
    ReportKind,
    ReportSchedule,
    Decision,
    ArticleState,
    ArticleVisibility,
    KbOutcome,
    DocKind,
    RollupPeriod
);
