//! Satisfaction ratings (README: Satisfaction): whom a closed ticket's rating is asked of, which
//! ratings call for a follow-up call (回访), and what a period's ratings add up to. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::customer::Tier;

/// Scores run from 1 (very dissatisfied) to 5 (very satisfied).
pub const SCORES: std::ops::RangeInclusive<u8> = 1..=5;

/// Whether a rating calls for a follow-up call: a score at or below `below`, or any score from
/// a VIP customer.
pub fn needs_callback(score: u8, tier: Tier, below: u8) -> bool {
    score <= below || tier == Tier::Vip
}

/// Whether the closing of ticket `ticket_id` (its resolution cycle `cycle`) is among the
/// `percent` of closings whose contact is asked. Decided by a hash of the two, so that every
/// instance, and a retried transaction, decides the same.
pub fn sampled(ticket_id: i64, cycle: i32, percent: u8) -> bool {
    if percent >= 100 {
        return true;
    }
    let digest = Sha256::digest(format!("rating-{ticket_id}-{cycle}").as_bytes());
    let n = u16::from_be_bytes([digest[0], digest[1]]) % 100;
    n < u16::from(percent)
}

/// One rating, as a report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rated {
    pub score: u8,
    /// The engineer the ticket was assigned to when it closed.
    pub engineer: Option<String>,
}

/// What a report's period holds of ratings: the closings asked about, the ratings given, and
/// the callbacks those asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RatingFacts {
    pub asked: u64,
    pub rated: Vec<Rated>,
    pub callbacks_asked: u64,
}

/// A period's ratings: how many of each score, the mean, the callbacks, and per engineer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Satisfaction {
    /// Closings whose contact was asked in the period.
    pub asked: u64,
    /// Ratings given in the period.
    pub rated: u64,
    /// Count of each score, 1 to 5.
    pub scores: [u64; 5],
    /// Mean score to two decimals; `None` without ratings.
    pub mean: Option<f64>,
    /// Ratings given in the period that asked for a follow-up call.
    pub callbacks_asked: u64,
    /// Callback timers that ended in the period, met in time or late.
    pub callbacks_in_time: u64,
    pub callbacks_late: u64,
    /// Per engineer: ratings and mean score.
    pub engineers: Vec<EngineerScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EngineerScore {
    pub engineer: String,
    pub ratings: u64,
    pub mean: f64,
}

fn mean(sum: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| ((sum as f64 / n as f64) * 100.0).round() / 100.0)
}

/// Adds up a period's ratings; `callbacks` are the callback timers that ended in it (in time,
/// late).
pub fn satisfaction(facts: &RatingFacts, callbacks: (u64, u64)) -> Satisfaction {
    let mut scores = [0u64; 5];
    let mut per: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in &facts.rated {
        if let Some(slot) = scores.get_mut(usize::from(r.score.saturating_sub(1))) {
            *slot += 1;
        }
        if let Some(e) = &r.engineer {
            let entry = per.entry(e).or_default();
            entry.0 += 1;
            entry.1 += u64::from(r.score);
        }
    }
    let sum: u64 = facts.rated.iter().map(|r| u64::from(r.score)).sum();
    let engineers = per
        .into_iter()
        .filter_map(|(e, (n, s))| Some(EngineerScore { engineer: e.to_string(), ratings: n, mean: mean(s, n)? }))
        .collect();
    Satisfaction {
        asked: facts.asked,
        rated: facts.rated.len() as u64,
        scores,
        mean: mean(sum, facts.rated.len() as u64),
        callbacks_asked: facts.callbacks_asked,
        callbacks_in_time: callbacks.0,
        callbacks_late: callbacks.1,
        engineers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_scores_and_every_vip_score_call_for_a_callback() {
        assert!(needs_callback(1, Tier::Standard, 2));
        assert!(needs_callback(2, Tier::Standard, 2));
        assert!(!needs_callback(3, Tier::Standard, 2));
        assert!(needs_callback(5, Tier::Vip, 2));
        assert!(!needs_callback(1, Tier::Standard, 0));
    }

    #[test]
    fn sampling_takes_about_the_share_asked_for_and_always_the_same_closings() {
        assert!((1..200).all(|t| sampled(t, 1, 100)));
        assert!(!(1..200).any(|t| sampled(t, 1, 0)));
        let taken = (1..=10_000).filter(|t| sampled(*t, 1, 30)).count();
        assert!((2_700..=3_300).contains(&taken), "{taken} of 10,000 at 30%");
        assert_eq!(sampled(42, 2, 50), sampled(42, 2, 50));
    }

    #[test]
    fn a_periods_ratings_add_up_per_score_and_per_engineer() {
        let r = |score, e: Option<&str>| Rated { score, engineer: e.map(str::to_string) };
        let rated = vec![r(5, Some("li")), r(4, Some("li")), r(1, Some("wang")), r(3, None)];
        let s = satisfaction(&RatingFacts { asked: 5, rated, callbacks_asked: 1 }, (1, 0));
        assert_eq!((s.asked, s.rated, s.callbacks_asked, s.callbacks_in_time), (5, 4, 1, 1));
        assert_eq!(s.scores, [1, 0, 1, 1, 1]);
        assert_eq!(s.mean, Some(3.25));
        assert_eq!(s.engineers.len(), 2);
        assert_eq!((s.engineers[0].engineer.as_str(), s.engineers[0].ratings, s.engineers[0].mean), ("li", 2, 4.5));
        assert_eq!(satisfaction(&RatingFacts { asked: 3, ..Default::default() }, (0, 0)).mean, None);
    }
}
