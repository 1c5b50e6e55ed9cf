//! The Loops-compatible REST API: every route with its error statuses, and the official
//! `loops` SDK driving a running Inlet.

use std::process::Command;

use inlet_shared::db::entities::contact_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::*;

fn message(answer: &Value) -> &str {
    answer["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_routes_follow_the_loops_contract() {
    let app = spawn_app(AppOptions::production()).await;
    let (_, list) = app.api_post("/api/v1/lists", json!({"name": "News"})).await;
    let list_id = list["id"].as_str().unwrap().to_owned();

    // create
    let (status, created) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": "Loops@Example.com", "firstName": "Lo", "userId": "u-1",
            "plan": "pro", "seats": 3, "mailingLists": {list_id.clone(): true}}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["success"], true);
    let id = created["id"].as_str().unwrap().to_owned();
    for (body, status_wanted, needle) in [
        (json!({"email": "loops@example.com"}), 409, "already"),
        (
            json!({"email": "other@example.com", "userId": "u-1"}),
            409,
            "already",
        ),
        (json!({"firstName": "No Email"}), 400, "email is required"),
        (
            json!({"email": "not-an-email"}),
            400,
            "email is not a valid",
        ),
        (
            json!({"email": "t@example.com", "firstName": 7}),
            400,
            "firstName must be a string",
        ),
        (
            json!({"email": "t@example.com", "subscribed": "yes"}),
            400,
            "subscribed",
        ),
        (
            json!({"email": "t@example.com", "mailingLists": {"list_nope": true}}),
            400,
            "list_nope",
        ),
        (
            json!({"email": "t@example.com", "lastName": "x".repeat(501)}),
            400,
            "lastName must be at most 500",
        ),
        (
            json!({"email": "t@example.com", "nested": {"a": 1}}),
            400,
            "nested must be a string, number, boolean or null",
        ),
        (
            json!({"email": "t@example.com", "id": "c_forged"}),
            400,
            "id cannot be set",
        ),
        (json!(["not", "an", "object"]), 400, "JSON object"),
    ] {
        let (status, answer) = app.api_post("/api/v1/contacts/create", body.clone()).await;
        assert_eq!(status, status_wanted, "{body} → {answer}");
        assert_eq!(answer["success"], false);
        assert!(message(&answer).contains(needle), "{body} → {answer}");
    }

    // find
    let (status, found) = app
        .api_get("/api/v1/contacts/find?email=loops@example.com")
        .await;
    assert_eq!(status, 200);
    let found = &found[0];
    assert_eq!(found["id"], id.as_str());
    assert_eq!(
        (found["plan"].clone(), found["seats"].clone()),
        (json!("pro"), json!(3)),
        "custom properties at the top level"
    );
    assert_eq!(found["mailingLists"], json!({ list_id.clone(): true }));
    assert_eq!(found["source"], "API");
    for query in ["", "?email=loops@example.com&userId=u-1", "?email=bad"] {
        let (status, _) = app.api_get(&format!("/api/v1/contacts/find{query}")).await;
        assert_eq!(status, 400, "find{query}");
    }
    let (_, none) = app.api_get("/api/v1/contacts/find?userId=nobody").await;
    assert_eq!(none, json!([]));

    // update: by userId, null clears, unsubscribe then re-subscribe, upsert creates
    let (status, updated) = app
        .api_put(
            "/api/v1/contacts/update",
            json!({"userId": "u-1", "firstName": null, "plan": null, "subscribed": false}),
        )
        .await;
    assert_eq!(
        (status, updated["id"].as_str()),
        (200, Some(id.as_str())),
        "{updated}"
    );
    let (_, found) = app.api_get("/api/v1/contacts/find?userId=u-1").await;
    assert_eq!(found[0]["firstName"], Value::Null);
    assert!(found[0].get("plan").is_none(), "{found}");
    assert_eq!(found[0]["subscribed"], false);
    app.api_put(
        "/api/v1/contacts/update",
        json!({"email": "loops@example.com", "subscribed": true}),
    )
    .await;
    assert_eq!(
        app.find_contacts("loops@example.com").await[0]["subscribed"],
        true
    );
    let (status, upserted) = app
        .api_put(
            "/api/v1/contacts/update",
            json!({"email": "new@example.com", "lastName": "New"}),
        )
        .await;
    assert_eq!(status, 200, "{upserted}");
    assert_eq!(
        app.find_contacts("new@example.com").await[0]["lastName"],
        "New"
    );
    let (status, answer) = app
        .api_put("/api/v1/contacts/update", json!({"firstName": "Who"}))
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app
        .api_put("/api/v1/contacts/update", json!({"userId": "ghost"}))
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app
        .api_put(
            "/api/v1/contacts/update",
            json!({"userId": "u-1", "email": "new@example.com"}),
        )
        .await;
    assert_eq!(status, 409, "moving onto another contact's email: {answer}");

    // delete
    let (status, answer) = app
        .api_post(
            "/api/v1/contacts/delete",
            json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!((status, message(&answer)), (200, "Contact deleted."));
    let (status, _) = app
        .api_post(
            "/api/v1/contacts/delete",
            json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api_post(
            "/api/v1/contacts/delete",
            json!({"email": "a@example.com", "userId": "u-1"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.api_post("/api/v1/contacts/delete", json!({})).await;
    assert_eq!(status, 400);

    // api-key
    let (status, key) = app.api_get("/api/v1/api-key").await;
    assert_eq!(
        (status, key["success"].clone(), key["teamName"].clone()),
        (200, json!(true), json!("Inlet"))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_send_records_the_event_and_refuses_repeated_idempotency_keys() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let send = |body: Value, key: Option<&'static str>| {
        let mut request = app
            .client
            .post(format!("{}/api/v1/events/send", app.address))
            .bearer_auth(&app.api_key)
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        async move {
            let r = request.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, answer) = send(
        json!({"email": "ev@example.com", "eventName": "signup", "eventProperties": {"plan": "pro"},
        "firstName": "Ev"}),
        Some("key-1"),
    )
    .await;
    assert_eq!((status, answer.clone()), (200, json!({"success": true})));
    let contact = app.find_contacts("ev@example.com").await.remove(0);
    assert_eq!(contact["firstName"], "Ev", "created with its properties");
    let (status, answer) = send(
        json!({"email": "ev@example.com", "eventName": "signup"}),
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    let (status, _) = send(
        json!({"email": "ev@example.com", "eventName": "upgrade"}),
        Some("key-2"),
    )
    .await;
    assert_eq!(status, 200);
    let events = contact_event::Entity::find()
        .filter(contact_event::Column::ContactId.eq(contact["id"].as_str().unwrap()))
        .all(&app.services.db)
        .await
        .unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(names, vec!["signup", "upgrade"]);
    assert_eq!(
        serde_json::from_str::<Value>(&events[0].properties).unwrap(),
        json!({"plan": "pro"})
    );

    for (body, needle) in [
        (json!({"email": "ev@example.com"}), "eventName is required"),
        (
            json!({"email": "ev@example.com", "eventName": "stripe:fake"}),
            "may not contain ':'",
        ),
        (json!({"eventName": "signup"}), "email or a userId"),
        (
            json!({"userId": "nobody", "eventName": "signup"}),
            "an email is needed",
        ),
        (
            json!({"email": "ev@example.com", "eventName": "signup", "eventProperties": [1]}),
            "eventProperties must be an object",
        ),
    ] {
        let (status, answer) = send(body.clone(), None).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(message(&answer).contains(needle), "{body} → {answer}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_sdk_works_against_inlet() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let (_, list) = app
        .api_post(
            "/api/v1/lists",
            json!({"name": "SDK list", "isPublic": true}),
        )
        .await;
    let list_id = list["id"].as_str().unwrap().to_owned();
    run_sdk_file(
        "loops.test.mjs",
        vec![
            ("INLET_API_ROOT", format!("{}/api/", app.address)),
            ("INLET_API_KEY", app.api_key.clone()),
            ("INLET_LIST_ID", list_id),
        ],
        4,
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_from_the_cli_work_until_revoked() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let env = vec![
        ("INLET_DATABASE_URL", app.db.url.clone()),
        ("RUST_LOG", "error".to_owned()),
    ];
    let (code, out) = Process::run(&["api-key", "create", "--name", "ci"], &env);
    assert_eq!(code, Some(0), "{out}");
    let key = out.lines().last().unwrap().trim().to_owned();
    let id = out
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_owned();
    assert!(key.starts_with("inlet_") && key.len() == 70, "{out}");
    let with_key = |key: String| {
        let request = app
            .client
            .get(format!("{}/api/v1/api-key", app.address))
            .bearer_auth(key);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(with_key(key.clone()).await, 200);

    let (_, listed) = Process::run(&["api-key", "list"], &env);
    assert!(
        listed.contains(&id) && listed.contains(&key[..12]),
        "{listed}"
    );
    assert!(!listed.contains(&key), "the full key is never shown again");

    let (code, out) = Process::run(&["api-key", "revoke", &id], &env);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        with_key(key).await,
        401,
        "revoked keys stop working at once"
    );
    let (code, _) = Process::run(&["api-key", "revoke", &id], &env);
    assert_ne!(code, Some(0), "revoking twice is an error");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_covers_every_route_and_schemathesis_finds_no_contradiction() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    // The document's examples find these, so response bodies with data are checked too.
    let (_, list) = app
        .api_post("/api/v1/lists", json!({"name": "Examples"}))
        .await;
    let (status, _) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": "ada@example.com", "userId": "user_123", "firstName": "Ada",
            "plan": "pro", "mailingLists": {list["id"].as_str().unwrap(): true}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, doc) = app.api_get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let mut routes: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    routes.sort();
    let expected = [
        "DELETE /api/v1/integrations/{id}",
        "DELETE /api/v1/integrations/{id}/secrets/{n}",
        "DELETE /api/v1/lists/{id}",
        "GET /api/v1/api-key",
        "GET /api/v1/contacts/find",
        "GET /api/v1/dead-letters",
        "GET /api/v1/email-messages/{id}",
        "GET /api/v1/emails",
        "GET /api/v1/integrations",
        "GET /api/v1/integrations/{id}",
        "GET /api/v1/integrations/{id}/secrets",
        "GET /api/v1/lists",
        "GET /api/v1/webhook-events",
        "PATCH /api/v1/integrations/{id}",
        "PATCH /api/v1/integrations/{id}/secrets/{n}",
        "POST /api/v1/contacts/create",
        "POST /api/v1/contacts/delete",
        "POST /api/v1/dead-letters/replay",
        "POST /api/v1/email-messages/{id}",
        "POST /api/v1/events/send",
        "POST /api/v1/integrations",
        "POST /api/v1/integrations/{id}/secrets",
        "POST /api/v1/integrations/{id}/test-events",
        "POST /api/v1/lists",
        "PUT /api/v1/contacts/update",
        "POST /api/v1/contacts/properties",
        "GET /api/v1/contacts/properties",
        "GET /api/v1/contacts/suppression",
        "DELETE /api/v1/contacts/suppression",
        "GET /api/v1/event-patterns",
        "GET /api/v1/event-patterns/{id}",
        "GET /api/v1/event-patterns/by-name/{eventName}",
        "POST /api/v1/transactional",
        "GET /api/v1/transactional-emails",
        "POST /api/v1/transactional-emails",
        "GET /api/v1/transactional-emails/{id}",
        "POST /api/v1/transactional-emails/{id}",
        "POST /api/v1/transactional-emails/{id}/draft",
        "POST /api/v1/transactional-emails/{id}/publish",
    ];
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    for (resource, item) in [("templates", "{id}"), ("workflows", "{id}")] {
        expected.push(format!("GET /api/v1/{resource}"));
        expected.push(format!("POST /api/v1/{resource}"));
        for method in ["DELETE", "GET", "PATCH"] {
            expected.push(format!("{method} /api/v1/{resource}/{item}"));
        }
    }
    for route in [
        "POST /api/v1/workflows/{id}",
        "POST /api/v1/workflows/{id}/mailing-list",
        "POST /api/v1/workflows/{id}/status",
        "POST /api/v1/workflows/{id}/nodes",
        "GET /api/v1/workflows/{id}/nodes/{nodeId}",
        "POST /api/v1/workflows/{id}/nodes/{nodeId}",
        "DELETE /api/v1/workflows/{id}/nodes/{nodeId}",
        "POST /api/v1/workflows/{id}/nodes/{nodeId}/add-branch",
        "POST /api/v1/workflows/{id}/nodes/{nodeId}/reroute",
        "DELETE /api/v1/workflows/{id}/nodes/{nodeId}/recursive",
    ] {
        expected.push(route.to_owned());
    }
    expected.sort();
    assert_eq!(routes, expected);
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["scheme"],
        "bearer"
    );
    let r = app
        .client
        .delete(format!("{}/api/v1/contacts/find", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405, "a method the path does not have");
    assert_eq!(r.json::<Value>().await.unwrap()["success"], false);

    // Schema-driven: every operation fuzzed; no 5xx, and every status, content type and
    // response body is one the document declares.
    let st =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/.venv/bin/st");
    assert!(
        st.exists(),
        "schemathesis is not installed: ./scripts/test.sh installs it"
    );
    let dir = std::env::temp_dir().join(format!("inlet-st-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("openapi.json");
    std::fs::write(&spec, doc.to_string()).unwrap();
    let (address, key) = (app.address.clone(), app.api_key.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .arg("run")
            .arg(&spec)
            .args(["--url", &address, "-H", &format!("Authorization: Bearer {key}")])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,unsupported_method"])
            .args(["--max-examples", "25", "--seed", "1", "--no-color"])
            .current_dir(&dir)
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

/// An API update arriving while another writer (here a transaction as a worker writes a
/// webhook's change) holds the contact merges into that writer's row once it commits: the
/// other writer's property stays beside the API's. Read before the other committed, the
/// update would write back the old properties and lose it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_update_waits_for_a_concurrent_writer_and_keeps_its_change() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};

    let app = spawn_app(AppOptions::embedded_postgres()).await;
    let (status, created) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": "merge@example.com", "plan": "free"}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let db = Database::connect(&app.db.url).await.unwrap();
    let other = db.begin().await.unwrap();
    other
        .execute_unprepared(
            r#"UPDATE contacts SET properties = '{"plan":"free","externalId":"x-1"}'
               WHERE email = 'merge@example.com'"#,
        )
        .await
        .unwrap();
    let update = {
        let client = app.client.clone();
        let url = format!("{}/api/v1/contacts/update", app.address);
        let key = app.api_key.clone();
        tokio::spawn(async move {
            client
                .put(url)
                .bearer_auth(key)
                .json(&json!({"email": "merge@example.com", "plan": "pro"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    // Long enough for the update to have read the contact, or to wait for it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    other.commit().await.unwrap();
    assert_eq!(update.await.unwrap(), 200);
    let found = app.find_contacts("merge@example.com").await;
    assert_eq!(found[0]["plan"], "pro", "{found:?}");
    assert_eq!(found[0]["externalId"], "x-1", "{found:?}");
    db.close().await.unwrap();
    app.stop().await;
}
