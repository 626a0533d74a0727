//! The public status page: only checks tagged `public`, under their `public_name`, with their
//! current state and 90 days of uptime from the daily rollups, and open incidents under the
//! title staff wrote for the public. Nothing else about customers or tickets.

use crate::domain::check::Health;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use minijinja::context;
use serde::Serialize;

use super::Viewer;
use crate::services::checks::public_checks;
use crate::services::tickets::public_incidents;
use crate::state::AppState;

const DAYS: i64 = 90;

/// The colour of a day's bar.
fn uptime_class(u: f64) -> &'static str {
    if u >= 99.95 {
        "ok"
    } else if u >= 99.0 {
        "minor"
    } else {
        "major"
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(status);
}

#[derive(Serialize)]
struct Day {
    date: String,
    /// none | ok | minor | major
    class: &'static str,
    uptime: String,
}

#[derive(Serialize)]
struct Service {
    name: String,
    health: Health,
    uptime: String,
    days: Vec<Day>,
}

#[derive(Serialize)]
struct Incident {
    title: String,
    since: String,
    status: String,
}

#[get("/status")]
async fn status(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let v = Viewer::new(&req, None, &state.config.zone_for(None), "public");
    match build(&state, &v).await {
        Ok((services, incidents)) => {
            let all_up = services.iter().all(|s| s.health != Health::Down) && incidents.is_empty();
            v.page(
                "status.html",
                StatusCode::OK,
                context! { services => services, incidents => incidents, all_up => all_up },
            )
        }
        Err(e) => v.failed(e, "/status"),
    }
}

async fn build(state: &AppState, v: &Viewer) -> crate::services::Result<(Vec<Service>, Vec<Incident>)> {
    let pct = |p: i64, f: i64| if p + f == 0 { None } else { Some(p as f64 * 100.0 / (p + f) as f64) };
    let services = public_checks(state, DAYS, state.clock.now())
        .await?
        .into_iter()
        .map(|c| {
            let (p_all, f_all) = c.days.iter().fold((0, 0), |(p, f), (_, dp, df)| (p + dp, f + df));
            let days = c
                .days
                .iter()
                .map(|(day, p, f)| {
                    let date = v.fmt(*day, "%Y-%m-%d");
                    match pct(*p, *f) {
                        None => Day { date, class: "none", uptime: String::new() },
                        Some(u) => Day { date, class: uptime_class(u), uptime: format!("{u:.2}%") },
                    }
                })
                .collect();
            let uptime = pct(p_all, f_all).map(|u| format!("{u:.2}%")).unwrap_or_default();
            Service { name: c.name, health: c.health, uptime, days }
        })
        .collect();
    let incidents = public_incidents(state)
        .await?
        .into_iter()
        .map(|i| Incident {
            title: i.title,
            since: v.time(i.since),
            status: v.t(super::console::status_key(i.status)).into(),
        })
        .collect();
    Ok((services, incidents))
}
