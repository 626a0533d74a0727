//! The working-time figures a finished timer's frozen outcome keeps: how long it stood paused and
//! how late it ended, each on the calendar it ran on, so that a report never needs the calendar
//! again (a later calendar change cannot move a past report's numbers).

use super::timer::HistoryEntry;
use crate::domain::calendar::{Calendar, CalendarError, Secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Working seconds during which at least one pause was in force, up to the end.
    pub paused_secs: i64,
    /// Working seconds from the deadline to the end; 0 when it ended in time.
    pub late_secs: i64,
}

/// The figures of a timer whose history is `history`, with deadline `due`, that ended at `ended`.
/// Pauses overlap (a visit's window and a wait for the customer): time counts once.
pub fn figures(
    cal: &Calendar,
    history: &[HistoryEntry],
    due: Option<Secs>,
    ended: Secs,
) -> Result<Figures, CalendarError> {
    let mut holding: Vec<Option<super::PauseReason>> = Vec::new();
    let mut since = None;
    let mut paused_secs = 0;
    for e in history.iter().take_while(|e| e.at() <= ended) {
        match e {
            HistoryEntry::Pause { at, reason } if !holding.contains(reason) => {
                if holding.is_empty() {
                    since = Some(*at);
                }
                holding.push(*reason);
            }
            HistoryEntry::Resume { at, reason } if holding.contains(reason) => {
                holding.retain(|h| h != reason);
                if holding.is_empty()
                    && let Some(from) = since.take()
                {
                    paused_secs += cal.working_between(from, *at)?;
                }
            }
            _ => {}
        }
    }
    if let Some(from) = since {
        paused_secs += cal.working_between(from, ended)?;
    }
    let late_secs = match due {
        Some(d) if ended > d => cal.working_between(d, ended)?,
        _ => 0,
    };
    Ok(Figures { paused_secs, late_secs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sla::PauseReason;

    #[test]
    fn overlapping_pauses_count_once_and_lateness_is_working_time() {
        let cal = Calendar::always("Asia/Shanghai").unwrap();
        let visit = Some(PauseReason::CustomerWindow);
        let history = vec![
            HistoryEntry::pause(100),
            HistoryEntry::Pause { at: 150, reason: visit },
            HistoryEntry::resume(200),
            HistoryEntry::Resume { at: 260, reason: visit },
            HistoryEntry::pause(400),
        ];
        let f = figures(&cal, &history, Some(1_000), 1_090).unwrap();
        assert_eq!(f, Figures { paused_secs: 160 + 690, late_secs: 90 });
        assert_eq!(figures(&cal, &[], Some(1_000), 900).unwrap(), Figures { paused_secs: 0, late_secs: 0 });
        // A pause written ahead, after the end, is no pause.
        let ahead = [HistoryEntry::Pause { at: 2_000, reason: visit }];
        assert_eq!(figures(&cal, &ahead, None, 1_500).unwrap().paused_secs, 0);
    }
}
