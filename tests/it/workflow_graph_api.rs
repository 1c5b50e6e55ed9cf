//! Loops' workflow API on Inlet: the graph routes' rules (revisions, queued contacts found
//! or discarded with real pending runs, confirmed deletes, refused reroutes, starting), the
//! deprecated shape still accepted, and the SDK building a graph (tests/sdk/workflows.test.mjs)
//! that signed Stripe webhooks then drive down its three paths to a real SMTP server.

use std::time::Duration;

use inlet_shared::db::entities::workflow_run;
use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::Person;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(40);

/// A pending run of `workflow` for `contact` at node `seq`, due in a day (so no runner takes
/// it during the test): a queued contact.
async fn queued_run(app: &TestApp, workflow: &str, contact: &str, seq: u64) -> String {
    let now = inlet_shared::domain::now_ms();
    let id = format!("run_{}", random_suffix());
    workflow_run::Entity::insert(workflow_run::ActiveModel {
        id: Set(id.clone()),
        workflow_id: Set(workflow.into()),
        contact_id: Set(contact.into()),
        event_name: Set("signup".into()),
        event_properties: Set("{}".into()),
        step: Set(i32::try_from(seq).unwrap()),
        status: Set("pending".into()),
        next_at: Set(now + 86_400_000),
        lease_until: Set(None),
        lease_token: Set(None),
        attempts: Set(0),
        first_failed_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        traceparent: Set(None),
        tracestate: Set(None),
        wait_until: Set(None),
    })
    .exec_without_returning(&app.services.db)
    .await
    .unwrap();
    id
}

async fn run_status(app: &TestApp, id: &str) -> String {
    workflow_run::Entity::find_by_id(id.to_owned())
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn contact(app: &TestApp, body: Value) -> String {
    let (status, created) = app.api_post("/api/v1/contacts/create", body).await;
    assert_eq!(status, 200, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

fn rev(v: &Value) -> Value {
    v.get("workflowRevisionId")
        .cloned()
        .or_else(|| v["workflow"].get("workflowRevisionId").cloned())
        .unwrap()
}

async fn delete(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .delete(format!("{}{path}", app.address))
        .bearer_auth(&app.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_routes_keep_their_rules() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let (status, wf) = app
        .api_post("/api/v1/workflows", json!({"name": "Rules"}))
        .await;
    assert_eq!(status, 200, "{wf}");
    assert_eq!(wf["status"], "Draft");
    let id = wf["id"].as_str().unwrap().to_owned();
    let root = wf["rootNodeId"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/workflows/{id}");

    // A timer after the trigger; then the same edit from the old revision is a 409.
    let body = json!({"expectedRevisionId": rev(&wf), "insertMode": "after",
        "nodeTypeName": "TimerAction", "fromNodeId": root});
    let (status, made) = app.api_post(&format!("{base}/nodes"), body.clone()).await;
    assert_eq!(status, 200, "{made}");
    let timer = made["node"]["id"].as_str().unwrap().to_owned();
    let timer_seq = 2; // the blank graph's trigger is 0, its exit 1
    let (status, stale) = app.api_post(&format!("{base}/nodes"), body).await;
    assert_eq!(
        (status, stale["success"].clone()),
        (409, json!(false)),
        "{stale}"
    );
    let mut r = rev(&made);

    // Refused by the graph's rules: a loop, the trigger as target, the trigger deleted,
    // a node that is not there.
    let exit = made["workflow"]["nodes"][&timer]["nextNodeIds"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = app
        .api_post(
            &format!("{base}/nodes/{timer}/reroute"),
            json!({"expectedRevisionId": r, "newTargetNodeId": root}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app
        .api_post(
            &format!("{base}/nodes/{timer}/reroute"),
            json!({"expectedRevisionId": r, "newTargetNodeId": timer}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = delete(
        &app,
        &format!("{base}/nodes/{root}"),
        json!({"expectedRevisionId": r}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = app.api_get(&format!("{base}/nodes/wfn_nope")).await;
    assert_eq!(status, 404);
    // A second timer after the first, then the first's connection rerouted past it would
    // loop if pointed back: refused.
    let (status, second) = app
        .api_post(
            &format!("{base}/nodes"),
            json!({"expectedRevisionId": r, "insertMode": "after", "nodeTypeName": "TimerAction", "fromNodeId": timer}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    r = rev(&second);
    let second_id = second["node"]["id"].as_str().unwrap().to_owned();
    let (status, answer) = app
        .api_post(
            &format!("{base}/nodes/{second_id}/reroute"),
            json!({"expectedRevisionId": r, "newTargetNodeId": timer}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("loop"),
        "{answer}"
    );
    let (_, shown) = app.api_get(&base).await;
    assert_eq!(
        shown["workflowRevisionId"], r,
        "refused edits change nothing"
    );
    assert_eq!(
        shown["nodes"][&second_id]["nextNodeIds"],
        json!([exit]),
        "{shown}"
    );

    // Queued contacts: two pending runs at the first timer, one contact on the list.
    let (_, list) = app.api_post("/api/v1/lists", json!({"name": "Pro"})).await;
    let list = list["id"].as_str().unwrap().to_owned();
    let on = contact(
        &app,
        json!({"email": "on@example.com", "mailingLists": {list.clone(): true}}),
    )
    .await;
    let off = contact(&app, json!({"email": "off@example.com"})).await;
    let run_on = queued_run(&app, &id, &on, timer_seq).await;
    let run_off = queued_run(&app, &id, &off, timer_seq).await;

    let del = |policy: Value| {
        let mut b = json!({"expectedRevisionId": r});
        if let Value::Object(p) = policy {
            b.as_object_mut().unwrap().extend(p);
        }
        b
    };
    let (status, preview) = delete(
        &app,
        &format!("{base}/nodes/{timer}"),
        del(json!({"dryRun": true})),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["status"], "dryRun");
    assert_eq!(preview["queuedContactCount"], 2);
    assert_eq!(preview["nodeIds"], json!([timer]));
    let (status, found) = delete(&app, &format!("{base}/nodes/{timer}"), del(json!({}))).await;
    assert_eq!(
        (status, found["status"].clone()),
        (200, json!("queuedContactsFound")),
        "{found}"
    );
    let (_, shown) = app.api_get(&base).await;
    assert!(shown["nodes"][&timer].is_object(), "nothing deleted");
    assert_eq!(shown["workflowRevisionId"], r);

    // The mailing list: the contact not on it is queued; discarding cancels that run only.
    let change = |extra: Value| {
        let mut b = json!({"expectedRevisionId": r, "mailingListId": list});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let (status, found) = app
        .api_post(&format!("{base}/mailing-list"), change(json!({})))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        (found["status"].clone(), found["queuedContactCount"].clone()),
        (json!("queuedContactsFound"), json!(1))
    );
    assert_eq!(run_status(&app, &run_off).await, "pending");
    let (status, updated) = app
        .api_post(
            &format!("{base}/mailing-list"),
            change(json!({"queuedContactPolicy": "discard"})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["status"], "updated");
    assert_eq!(updated["workflow"]["mailingListId"], list.as_str());
    assert_eq!(run_status(&app, &run_off).await, "cancelled");
    assert_eq!(run_status(&app, &run_on).await, "pending");
    r = rev(&updated);

    // Deleting the timer with discard cancels the run at it, in the same request.
    let (status, deleted) = delete(
        &app,
        &format!("{base}/nodes/{timer}"),
        json!({"expectedRevisionId": r, "queuedContactPolicy": "discard"}),
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(deleted["queuedContactCount"], 1);
    assert_eq!(run_status(&app, &run_on).await, "cancelled");
    assert_eq!(
        deleted["workflow"]["nodes"][&root]["nextNodeIds"],
        json!([second_id])
    );
    r = rev(&deleted);

    // Starting needs a trigger and complete emails.
    let (status, answer) = app
        .api_post(&format!("{base}/status"), json!({"status": "Sending"}))
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, trig) = app
        .api_post(
            &format!("{base}/nodes/{root}"),
            json!({"expectedRevisionId": r, "payload": {"typeName": "EventTrigger", "eventName": "signup"}}),
        )
        .await;
    assert_eq!(status, 200, "{trig}");
    r = rev(&trig);
    let (status, send) = app
        .api_post(
            &format!("{base}/nodes"),
            json!({"expectedRevisionId": r, "insertMode": "before", "nodeTypeName": "SendEmailAction", "toNodeId": second_id}),
        )
        .await;
    assert_eq!(status, 200, "{send}");
    r = rev(&send);
    let message = send["node"]["emailMessageId"].as_str().unwrap().to_owned();
    let (status, answer) = app
        .api_post(&format!("{base}/status"), json!({"status": "Sending"}))
        .await;
    assert_eq!(status, 400, "a message without subject: {answer}");
    let (status, m) = app
        .api_post(
            &format!("/api/v1/email-messages/{message}"),
            json!({"subject": "Welcome", "lmx": "<p>Hi</p>"}),
        )
        .await;
    assert_eq!(status, 200, "a workflow's message is editable: {m}");
    let (status, started) = app
        .api_post(&format!("{base}/status"), json!({"status": "Sending"}))
        .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "Sending");
    assert_eq!(started["workflowRevisionId"], r, "a status is not an edit");

    // Hostile payloads are refused, not stored.
    for payload in [
        json!({"amount": 0}),
        json!({"amount": 366, "unit": "d"}),
        json!({"unit": "w"}),
        json!({"eventName": "x"}),
        json!({"audienceFilter": {"match": "all", "conditions": [{"type": "optIn", "status": null}]}}),
    ] {
        let (status, answer) = app
            .api_post(
                &format!("{base}/nodes/{second_id}"),
                json!({"expectedRevisionId": r, "payload": payload}),
            )
            .await;
        assert_eq!(status, 400, "{payload} → {answer}");
    }

    // Deleting a sending workflow, or one with queued contacts, needs confirmDelete.
    let queued = queued_run(&app, &id, &on, 1).await;
    let (status, answer) = delete(&app, &base, json!({"expectedRevisionId": r})).await;
    assert_eq!(status, 409, "{answer}");
    let (status, _) = delete(
        &app,
        &base,
        json!({"expectedRevisionId": "rev_old", "confirmDelete": true}),
    )
    .await;
    assert_eq!(status, 409, "a stale revision");
    let (status, answer) = delete(
        &app,
        &base,
        json!({"expectedRevisionId": r, "confirmDelete": true}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(run_status(&app, &queued).await, "cancelled");
    let (status, _) = app.api_get(&base).await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// The deprecated shape still creates a workflow (a straight graph of its steps, sending),
/// with the `Deprecation` header; it reads back in Loops' shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deprecated_shape_still_creates_workflows() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let (_, t) = app
        .api_post(
            "/api/v1/templates",
            json!({"name": "T", "subject": "S", "html": "<p>x</p>"}),
        )
        .await;
    let r = app
        .client
        .post(format!("{}/api/v1/workflows", app.address))
        .bearer_auth(&app.api_key)
        .json(&json!({"name": "Old", "trigger": {"type": "event", "eventName": "signup"},
            "steps": [{"type": "sendEmail", "templateId": t["id"]}, {"type": "wait", "seconds": 60}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers().get("deprecation").unwrap(), "true");
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let (status, wf) = app.api_get(&format!("/api/v1/workflows/{id}")).await;
    assert_eq!(status, 200, "{wf}");
    assert_eq!(wf["status"], "Sending");
    let root = &wf["nodes"][wf["rootNodeId"].as_str().unwrap()];
    assert_eq!(root["typeName"], "EventTrigger");
    assert_eq!(root["eventName"], "signup");
    let first = &wf["nodes"][root["nextNodeIds"][0].as_str().unwrap()];
    assert_eq!(first["typeName"], "SendEmailAction");
    assert_eq!(first["emailMessageId"], t["id"]);
    let timer = &wf["nodes"][first["nextNodeIds"][0].as_str().unwrap()];
    assert_eq!(
        (timer["amount"].clone(), timer["unit"].clone()),
        (json!(60), json!("s"))
    );
    app.stop().await;
}

/// The SDK builds the reminder graph (tests/sdk/workflows.test.mjs); started, it sends
/// signed `invoice.payment_failed` contacts down its paths: the pro one gets the reminder
/// and email A, the other the reminder and email B, and the one who pays
/// (`invoice.paid`) before the timer ends only the reminder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_builds_a_graph_that_webhooks_drive() {
    let smtp = SmtpServer::start();
    let mut options = AppOptions::embedded_sqlite();
    options.vars.extend([
        ("INLET_SMTP_URL".into(), smtp.url()),
        ("INLET_EMAIL_FROM".into(), "Acme <hello@acme.test>".into()),
    ]);
    let app = spawn_app(options).await;
    let out = run_sdk_file(
        "workflows.test.mjs",
        vec![
            ("INLET_API_ROOT", format!("{}/api/", app.address)),
            ("INLET_API_KEY", app.api_key.clone()),
        ],
        1,
    )
    .await;
    let id = out
        .split("WORKFLOW_ID=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the SDK test prints the workflow's id")
        .to_owned();
    let (status, started) = app
        .api_post(
            &format!("/api/v1/workflows/{id}/status"),
            json!({"status": "Sending"}),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "Sending");

    // Three contacts, then their failed payments.
    for (email, plan) in [
        ("pro@example.com", "pro"),
        ("free@example.com", "free"),
        ("payer@example.com", "pro"),
    ] {
        contact(&app, json!({"email": email, "plan": plan})).await;
    }
    let integration = app.create_stripe_integration().await;
    let send = |kind: &'static str, email: &'static str, n: u32| {
        let app = &app;
        let integration = integration.clone();
        async move {
            let person = Person {
                email,
                first_name: "Pat",
                last_name: "Doe",
                id: &format!("cus_{n}"),
            };
            let (status, answer) = app
                .send_sample(
                    &integration,
                    Provider::Stripe,
                    STRIPE_SECRET,
                    kind,
                    &person,
                    now_secs(),
                )
                .await;
            assert_eq!(status, 202, "{kind} for {email}: {answer}");
        }
    };
    send("invoice.payment_failed", "payer@example.com", 3).await;
    let first = smtp.wait_for(1, WAIT).await;
    assert_eq!(
        header(&first[0], "Subject").as_deref(),
        Some("Your payment failed")
    );
    send("invoice.paid", "payer@example.com", 3).await;
    send("invoice.payment_failed", "pro@example.com", 1).await;
    send("invoice.payment_failed", "free@example.com", 2).await;

    let all = smtp.wait_for(5, WAIT).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let all = if smtp.messages().len() > all.len() {
        smtp.messages()
    } else {
        all
    };
    let mut got: Vec<(String, String)> = all
        .iter()
        .map(|m| {
            (
                header(m, "To").unwrap_or_default(),
                header(m, "Subject").unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    let to = |who: &str| format!("{who}@example.com");
    let mut expected = vec![
        (to("free"), "Your account is on hold".to_owned()),
        (to("free"), "Your payment failed".to_owned()),
        (to("payer"), "Your payment failed".to_owned()),
        (to("pro"), "Pro: keep your plan".to_owned()),
        (to("pro"), "Your payment failed".to_owned()),
    ];
    expected.sort();
    let got_simplified: Vec<(String, String)> = got
        .into_iter()
        .map(|(to, s)| {
            let addr = to
                .rsplit('<')
                .next()
                .unwrap_or(&to)
                .trim_end_matches('>')
                .to_owned();
            (addr, s)
        })
        .collect();
    assert_eq!(got_simplified, expected);
    app.stop().await;
}
