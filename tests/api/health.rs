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
