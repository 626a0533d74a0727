use reqwest::Method;

use crate::helpers::spawn;

#[tokio::test]
async fn live_and_ready_answer_without_a_token() {
    let app = spawn().await;
    let live = app.call(Method::GET, "/health/live", None, None).await;
    assert_eq!((live.status.as_u16(), live.body["status"].as_str()), (200, Some("ok")));
    let ready = app.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!((ready.status.as_u16(), ready.body["status"].as_str()), (200, Some("ready")));
}

#[tokio::test]
async fn openapi_and_docs_are_public() {
    let app = spawn().await;
    let spec = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["paths"]["/api/v1/tickets/{id}/respond"]["post"]["responses"]["409"].is_object());
    let docs = app.client.get(format!("{}/api/docs/", app.address)).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn ready_is_503_when_the_database_is_gone() {
    let app = spawn().await;
    app.state.db.clone().close().await.unwrap();
    let ready = app.call(Method::GET, "/health/ready", None, None).await;
    assert_eq!((ready.status.as_u16(), ready.code()), (503, "database_unavailable"));
}

/// SQLite keeps each prepared statement's plan whatever values are bound to it (the build's
/// `SQLITE_ENABLE_QPSG`, from `.cargo/config.toml`). Without it SQLite plans `LIMIT ?` — every
/// sea-orm `.one()`, the token lookup on every request among them — around the bound value and so
/// compiles the statement again on each execution: 7 % of the service's CPU when opening tickets.
#[tokio::test]
async fn sqlite_statements_keep_their_plan_whatever_is_bound() {
    let app = spawn().await;
    let keeps = opsline::persistence::sqlite_keeps_plans(&app.state.db).await.unwrap();
    let sqlite = app.db.url.starts_with("sqlite:");
    assert_eq!(keeps, sqlite.then_some(true), "SQLite built without SQLITE_ENABLE_QPSG (.cargo/config.toml)");
}

/// On SQLite, requests never copy the write-ahead log back themselves (they would wait out a file
/// sync while holding the only write connection): a background checkpointer on its own
/// connection does it. PostgreSQL has none.
#[tokio::test]
async fn the_sqlite_log_is_checkpointed_in_the_background_not_by_requests() {
    use opsline::persistence::checkpoint::{Checkpointer, WRITER_FALLBACK_PAGES};
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn().await;
    let settings = &app.state.config.settings.database;
    let Some(path) = app.db.url.strip_prefix("sqlite://") else {
        assert!(Checkpointer::open(settings).await.unwrap().is_none());
        return;
    };
    let backend = app.state.db.get_database_backend();
    let row = app
        .state
        .db
        .query_one_raw(Statement::from_string(backend, "PRAGMA wal_autocheckpoint"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<i32>(0).unwrap(), WRITER_FALLBACK_PAGES as i32);
    // Writers append to the log only; what changes the database file itself is a checkpoint.
    let file = std::path::PathBuf::from(path);
    let modified = |f: &std::path::Path| std::fs::metadata(f).and_then(|m| m.modified()).unwrap();
    let before = modified(&file);
    let customer = app.customer("Acme", "standard").await;
    for i in 0..20 {
        let body = serde_json::json!({"customer_id": customer, "title": format!("fault {i}"), "level": "III"});
        assert_eq!(app.post("/api/v1/tickets", &app.admin, body).await.status, 201);
    }
    // Far below the writers' own threshold, yet the file soon takes the new pages.
    crate::helpers::eventually(
        "the log copied back into the database file",
        std::time::Duration::from_secs(10),
        || {
            let changed = modified(&file) > before;
            async move { changed.then_some(()) }
        },
    )
    .await;
    // A checkpoint copies back every page logged, without waiting for the writers.
    let mut own = Checkpointer::open(settings).await.unwrap().expect("a checkpointer for SQLite");
    let seen = own.run().await.unwrap();
    assert_eq!(seen.copied, seen.logged, "{seen:?}");
    own.close().await;
}
