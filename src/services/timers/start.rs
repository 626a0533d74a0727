//! Starting timers: each planned on the customer's current contract and calendar and scheduled
//! by the escalation rules as the sweep would, then written in one statement.

use super::*;

/// Where new timers start: the cycle, the level, the customer whose current contract they run
/// on, and the instant they start.
pub struct Start<'a> {
    pub cycle: i32,
    pub level: Level,
    pub customer: &'a customer::Model,
    pub at: Secs,
}

/// Starts timers of `kinds` for ticket `ticket_id`: [`plan`], then [`insert`].
pub(crate) async fn start(
    work: &mut Work<'_>,
    ticket_id: i64,
    kinds: &[TimerKind],
    s: &Start<'_>,
) -> Result<Vec<Timer>> {
    let planned = plan(work, kinds, s)?;
    insert(work, ticket_id, planned).await
}

/// Timers of `kinds`, each scheduled by the escalation rules as the sweep would
/// (`escalation::plan`), so that the sweep looks at them only when something is due; not yet
/// written (no row id, no ticket): opening a ticket writes its urgency from them with its row.
pub(crate) fn plan(work: &mut Work<'_>, kinds: &[TimerKind], s: &Start<'_>) -> Result<Vec<Timer>> {
    let (state, now) = (work.state, work.now);
    let versions = &state.versions;
    let rules = &state.config.runtime.escalation.rules;
    let (cal_id, calendar) = versions.current_calendar(&s.customer.calendar)?;
    let (pol_id, policy) = versions.current_policy(&s.customer.sla_policy)?;
    let mut planned = Vec::with_capacity(kinds.len());
    for &kind in kinds {
        // A contract without a target for a kind has no such timer.
        let (Some(target), Some(plan)) = (policy.target(s.level, kind), policy.target(s.level, TimerKind::Plan)) else {
            continue;
        };
        let r = replay(&calendar, kind, s.at, target, plan, &[])?;
        let breached = r.due.is_some_and(|d| secs(now) > d);
        let next_fire_at = match r.due {
            Some(due) => {
                let subject =
                    Subject { timer: Some(kind), level: s.level, tier: s.customer.tier, customer_key: &s.customer.key };
                let window = TimerWindow { calendar: &calendar, start: s.at, due };
                let planned = escalation::plan(rules, &subject, &window, breached, None, secs(now))?;
                // Steps due already (a backdated ticket) are the sweep's to fire.
                if planned.due_now.is_empty() { planned.next.map(utc) } else { Some(now) }
            }
            None => None,
        };
        work.scheduled(next_fire_at);
        let risk_at = match r.due {
            Some(due) if !breached => Some(utc(share_point(&calendar, s.at, due, RISK_PERCENT)?)),
            _ => None,
        };
        let model = sla_timer::Model {
            id: 0,
            ticket_id: 0,
            kind,
            cycle: s.cycle,
            level: s.level,
            target: target.to_string(),
            plan_target: plan.to_string(),
            started_at: utc(s.at),
            calendar_version_id: cal_id,
            policy_version_id: pol_id,
            state: if breached { TimerState::Breached } else { TimerState::Running },
            due_at: r.due.map(utc),
            paused_at: None,
            remaining_secs: None,
            breached,
            met_at: None,
            outcome: None,
            finished_at: None,
            history: "[]".into(),
            next_fire_at,
            risk_at,
            created_at: now,
            updated_at: now,
        };
        planned.push(Timer {
            model,
            kind,
            history: Vec::new(),
            calendar: calendar.clone(),
            target,
            plan,
            dirty: false,
            // A backdated timer may start breached: that breach is this ticket's to count.
            counted: (false, false),
            frozen: false,
        });
    }
    Ok(planned)
}

/// Writes [`plan`]ned timers for ticket `ticket_id` in one statement; each gets its row.
pub(crate) async fn insert(work: &Work<'_>, ticket_id: i64, mut planned: Vec<Timer>) -> Result<Vec<Timer>> {
    if planned.is_empty() {
        return Ok(planned);
    }
    let rows = planned.iter().map(|t| {
        let mut row = t.model.clone().into_active_model();
        row.id = NotSet;
        row.ticket_id = Set(ticket_id);
        row
    });
    // RETURNING promises no order: each row goes back to its timer by kind (unique within a
    // ticket's cycle).
    for model in sla_timer::Entity::insert_many(rows).exec_with_returning(&work.txn).await? {
        let timer = planned
            .iter_mut()
            .find(|t| t.kind == model.kind)
            .ok_or_else(|| Error::Internal(format!("sla_timers, row {}: a timer that was not started", model.id)))?;
        timer.model = model;
    }
    Ok(planned)
}
