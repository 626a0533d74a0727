//! The public status page: only checks tagged `public`, under their `public_name`, with their
//! current state and 90 days of uptime from the daily rollups, and open incidents under the
//! title staff wrote for the public. Nothing else about customers or tickets.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{Duration, DurationRound};
use minijinja::context;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use super::{Viewer, calendar_zone};
use crate::persistence::entities::{check, check_rollup};
use crate::services::checks::def_of;
use crate::services::tickets::public_incidents;
use crate::state::AppState;

const DAYS: i64 = 90;

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
    health: String,
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
    let v = Viewer::new(&req, None, &calendar_zone(&state, None), "public");
    match build(&state, &v).await {
        Ok((services, incidents)) => {
            let all_up = services.iter().all(|s| s.health != "down") && incidents.is_empty();
            v.page(
                &state,
                "status.html",
                StatusCode::OK,
                context! { services => services, incidents => incidents, all_up => all_up },
            )
        }
        Err(e) => v.failed(&state, e, "/status"),
    }
}

async fn build(state: &AppState, v: &Viewer) -> crate::services::Result<(Vec<Service>, Vec<Incident>)> {
    let now = state.clock.now();
    let today = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let first = today - Duration::days(DAYS - 1);
    let mut public: Vec<(check::Model, String)> = Vec::new();
    // Only rows whose tags (a JSON array) name `public` are read and parsed: the page is public
    // and unauthenticated, and most checks are private.
    for c in check::Entity::find().filter(check::Column::Tags.contains("\"public\"")).all(&state.db).await? {
        let Ok(def) = def_of(&c) else { continue };
        if def.spec.tags.iter().any(|t| t == "public")
            && let Some(name) = def.spec.public_name.clone()
        {
            public.push((c, name));
        }
    }
    let ids: Vec<i64> = public.iter().map(|(c, _)| c.id).collect();
    let rollups = check_rollup::Entity::find()
        .filter(check_rollup::Column::CheckId.is_in(ids))
        .filter(check_rollup::Column::Period.eq("day"))
        .filter(check_rollup::Column::BucketStart.gte(first))
        .all(&state.db)
        .await?;
    let mut by: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
    for r in rollups {
        let day = (r.bucket_start - first).num_days();
        let e = by.entry((r.check_id, day)).or_default();
        e.0 += i64::from(r.passes);
        e.1 += i64::from(r.failures);
    }
    let pct = |p: i64, f: i64| if p + f == 0 { None } else { Some(p as f64 * 100.0 / (p + f) as f64) };
    let mut services: Vec<Service> = public
        .into_iter()
        .map(|(c, name)| {
            let (mut p_all, mut f_all) = (0, 0);
            let days = (0..DAYS)
                .map(|d| {
                    let (p, f) = by.get(&(c.id, d)).copied().unwrap_or_default();
                    p_all += p;
                    f_all += f;
                    let date = v.fmt(first + Duration::days(d), "%Y-%m-%d");
                    match pct(p, f) {
                        None => Day { date, class: "none", uptime: String::new() },
                        Some(u) => Day {
                            date,
                            class: if u >= 99.95 {
                                "ok"
                            } else if u >= 99.0 {
                                "minor"
                            } else {
                                "major"
                            },
                            uptime: format!("{u:.2}%"),
                        },
                    }
                })
                .collect();
            Service {
                name,
                health: c.health,
                uptime: pct(p_all, f_all).map(|u| format!("{u:.2}%")).unwrap_or_default(),
                days,
            }
        })
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    let incidents = public_incidents(state)
        .await?
        .into_iter()
        .map(|i| Incident {
            title: i.title,
            since: v.time(i.since),
            status: v.t(super::console::status_key(&i.status)).into(),
        })
        .collect();
    Ok((services, incidents))
}
