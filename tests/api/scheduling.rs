//! A new ticket's timers are scheduled as they are written: the sweep looks at them only when a
//! warning or breach is due, and one already due at opening (a backdated call) fires at once.

use opsline::persistence::entities::sla_timer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::escalation::{deliver, rig, sweep, tick, types, vip_ticket};
use crate::helpers::{TestApp, at};

async fn next_fires(app: &TestApp, ticket: &Value) -> Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> {
    let mut rows = sla_timer::Entity::find()
        .filter(sla_timer::Column::TicketId.eq(ticket["id"].as_i64().unwrap()))
        .all(&app.state.db)
        .await
        .unwrap();
    rows.sort_by_key(|r| r.kind.to_string());
    rows.into_iter().map(|r| (r.kind.to_string(), r.next_fire_at)).collect()
}

#[tokio::test]
async fn a_new_tickets_timers_are_scheduled_as_written_and_the_sweep_waits_for_the_first_warning() {
    let r = rig().await; // Tue 2026-10-20 10:00 +08:00; VIP level I: response 10:10, plan 10:30
    let t = vip_ticket(&r.app, "I").await;
    let due = |s: &str| Some(at(s));
    assert_eq!(
        next_fires(&r.app, &t).await,
        vec![
            ("plan".to_string(), due("2026-10-20T10:30:01+08:00")),
            ("resolution".to_string(), due("2026-10-21T00:00:01+08:00")),
            // The rules' 80 % warning of the 10-minute response.
            ("response".to_string(), due("2026-10-20T10:08:00+08:00")),
        ],
        "each timer's next firing: the response warning, else the breach a second after the deadline"
    );
    let o = opsline::services::escalation::sweep::run_once(&r.app.state, r.app.clock.now()).await.unwrap();
    assert_eq!(o.timers, 0, "nothing for the sweep until something is due");
    tick(&r.app, "2026-10-20T10:07:59+08:00").await;
    assert!(types(&r.hooks).is_empty());
    tick(&r.app, "2026-10-20T10:08:00+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.warning"], "the warning, at the instant it was scheduled for");
}

#[tokio::test]
async fn a_backdated_ticket_whose_breach_is_already_due_is_left_to_the_sweep_which_fires_it_at_once() {
    let r = rig().await;
    let c = r.app.customer("Backdated VIP", "vip").await;
    // The call began at 09:48: the response was due at 09:58, before the ticket existed.
    let body = json!({"customer_id": c, "title": "core system down", "level": "I", "reported_at": "2026-10-20T09:48:00+08:00"});
    let t = r.app.post("/api/v1/tickets", &r.app.admin, body).await.body;
    assert_eq!(t["sla"]["response"]["state"], "breached", "{t}");
    let fires = next_fires(&r.app, &t).await;
    let response = fires.iter().find(|(k, _)| k == "response").unwrap();
    assert_eq!(response.1, Some(at("2026-10-20T10:00:00+08:00")), "due now: the sweep's to fire");
    sweep(&r.app).await;
    deliver(&r.app).await;
    assert_eq!(types(&r.hooks), vec!["sla.breach"], "the breach at once; the warning it missed is not sent late");
    tick(&r.app, "2026-10-20T10:01:00+08:00").await;
    assert_eq!(types(&r.hooks), vec!["sla.breach"], "and only once");
}
