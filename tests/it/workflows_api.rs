//! Templates and workflows: the definitions workflows run from, with their validation.

use serde_json::{Value, json};

use crate::support::*;

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(&app.api_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_and_workflows_are_created_validated_changed_and_deleted() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    use reqwest::Method;

    // Templates: compiled on save, so a broken one is refused with the field named.
    let (status, created) = app
        .api_post("/api/v1/templates", json!({"name": "Receipt", "subject": "Thanks, {{ contact.firstName }}",
            "html": "<p>{{ event.properties.amount }}</p>", "text": "Paid", "fromName": "Shop", "fromEmail": "shop@example.com"}))
        .await;
    assert_eq!(status, 200, "{created}");
    let template = created["id"].as_str().unwrap().to_owned();
    for (body, needle) in [
        (
            json!({"name": "x", "subject": "{{ oops", "html": "<p></p>"}),
            "subject is not a valid template",
        ),
        (
            json!({"name": "x", "subject": "Hi", "html": "{% if %}"}),
            "html is not a valid template",
        ),
        (
            json!({"name": "x", "subject": "Hi", "html": "ok", "fromEmail": "nope"}),
            "fromEmail",
        ),
        (json!({"name": "", "subject": "Hi", "html": "ok"}), "name"),
        (
            json!({"name": "x", "subject": "Hi", "html": "ok", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, answer) = app.api_post("/api/v1/templates", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{body} → {answer}"
        );
    }
    let (status, patched) = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/templates/{template}"),
        Some(json!({"subject": "Receipt for {{ contact.email }}"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["subject"], "Receipt for {{ contact.email }}");
    assert_eq!(
        patched["html"], "<p>{{ event.properties.amount }}</p>",
        "other fields kept"
    );

    // Workflows: triggers, audience and steps are checked against what exists.
    let (_, list) = app
        .api_post("/api/v1/lists", json!({"name": "Buyers"}))
        .await;
    let list_id = list["id"].as_str().unwrap().to_owned();
    let body = json!({"name": "Receipt flow",
        "trigger": {"type": "event", "eventName": "stripe:checkout.session.completed"},
        "audience": {"mailingListId": list_id},
        "steps": [{"type": "sendEmail", "templateId": template}, {"type": "wait", "seconds": 3600},
                  {"type": "sendEmail", "templateId": template}]});
    let (status, created) = app.api_post("/api/v1/workflows", body.clone()).await;
    assert_eq!(status, 200, "{created}");
    let workflow = created["id"].as_str().unwrap().to_owned();
    let (status, shown) = send(
        &app,
        Method::GET,
        &format!("/api/v1/workflows/{workflow}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    // Shown in Loops' shape: the straight graph of its steps.
    let root = &shown["nodes"][shown["rootNodeId"].as_str().unwrap()];
    assert_eq!(root["typeName"], "EventTrigger");
    assert_eq!(root["eventName"], "stripe:checkout.session.completed");
    let first = &shown["nodes"][root["nextNodeIds"][0].as_str().unwrap()];
    assert_eq!(first["emailMessageId"], template.as_str());
    let wait = &shown["nodes"][first["nextNodeIds"][0].as_str().unwrap()];
    assert_eq!(
        (wait["amount"].clone(), wait["unit"].clone()),
        (json!(3600), json!("s"))
    );
    assert_eq!(shown["mailingListId"], list_id.as_str());
    assert_eq!(shown["status"], "Sending");
    for (bad, needle) in [
        (
            json!({"type": "event", "eventName": "stripe:payment_intent.created"}),
            "not a supported Stripe event",
        ),
        (
            json!({"type": "event", "eventName": "paypal:sale"}),
            "not a provider",
        ),
        (
            json!({"type": "addedToList", "listId": "list_nope"}),
            "list_nope",
        ),
        (json!({"type": "sometimes"}), "unknown variant"),
    ] {
        let mut body = body.clone();
        body["trigger"] = bad.clone();
        let (status, answer) = app.api_post("/api/v1/workflows", body).await;
        assert_eq!(status, 400, "{bad} → {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{bad} → {answer}"
        );
    }
    for (steps, needle) in [
        (json!([]), "1 to 50 steps"),
        (
            json!([{"type": "sendEmail", "templateId": "tpl_nope"}]),
            "steps[0].templateId",
        ),
        (json!([{"type": "wait", "seconds": 0}]), "steps[0].seconds"),
    ] {
        let mut body = body.clone();
        body["steps"] = steps.clone();
        let (status, answer) = app.api_post("/api/v1/workflows", body).await;
        assert_eq!(status, 400, "{steps} → {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{steps} → {answer}"
        );
    }
    let custom = json!({"name": "Signup", "trigger": {"type": "event", "eventName": "signup"},
        "steps": [{"type": "sendEmail", "templateId": template}], "enabled": false});
    let (status, _) = app.api_post("/api/v1/workflows", custom).await;
    assert_eq!(status, 200, "custom events may start workflows");

    let (status, patched) = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/workflows/{workflow}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!((status, patched["enabled"].clone()), (200, json!(false)));
    let (_, all) = send(&app, Method::GET, "/api/v1/workflows", None).await;
    let all = all["data"].clone();
    assert_eq!(all.as_array().unwrap().len(), 2);

    // A template in use cannot be deleted; once its workflows are gone it can.
    let (status, answer) = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/templates/{template}"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    for w in all.as_array().unwrap() {
        let (status, _) = send(
            &app,
            Method::DELETE,
            &format!("/api/v1/workflows/{}", w["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, _) = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/templates/{template}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &app,
        Method::GET,
        &format!("/api/v1/templates/{template}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}
