//! Shapes of API bodies and answers that handlers build as JSON, declared for the OpenAPI
//! document (each matches what its handler writes; the API tests check the handlers).

#![allow(dead_code)] // Read by the OpenAPI derive only.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// An error (or a plain confirmation): `{success, message}`.
#[derive(Serialize, ToSchema)]
pub struct Message {
    success: bool,
    message: String,
}

/// `{success: true}`.
#[derive(Serialize, ToSchema)]
pub struct Success {
    success: bool,
}

/// `{success: true, id}`.
#[derive(Serialize, ToSchema)]
pub struct Created {
    success: bool,
    id: String,
}

/// Contact fields (create, update, events). Any other key is a custom property: a string
/// (at most 500 characters), number, boolean, or `null` to clear it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactBody {
    /// Required to create a contact.
    #[schema(format = "email")]
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    source: Option<String>,
    subscribed: Option<bool>,
    user_group: Option<String>,
    user_id: Option<String>,
    /// `{listId: true}` subscribes, `false` removes.
    mailing_lists: Option<BTreeMap<String, bool>>,
}

/// A contact as `contacts/find` returns it; custom properties appear at the top level.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    id: String,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    source: Option<String>,
    subscribed: bool,
    user_group: Option<String>,
    user_id: Option<String>,
    mailing_lists: BTreeMap<String, bool>,
}

/// Body of `POST /api/v1/events/send`: an event name, its properties, and contact fields
/// (email and/or userId identify the contact).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// 1–500 characters, no `:`.
    event_name: String,
    event_properties: Option<BTreeMap<String, serde_json::Value>>,
    #[schema(format = "email")]
    email: Option<String>,
    user_id: Option<String>,
    mailing_lists: Option<BTreeMap<String, bool>>,
}

/// `{success, teamName}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    success: bool,
    team_name: String,
}

/// A mailing list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailingList {
    id: String,
    name: String,
    description: Option<String>,
    is_public: bool,
}

/// After adding or removing a secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretCount {
    success: bool,
    secret_count: usize,
}

/// One delivery of the webhook log.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    id: String,
    integration_id: String,
    provider: String,
    event_type: Option<String>,
    idempotency_key: Option<String>,
    /// accepted, ignored, rejected, duplicate, processed, failed or dead.
    status: String,
    message: String,
    attempts: i32,
    received_at: String,
    updated_at: String,
}

/// A page of the webhook log.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEventPage {
    data: Vec<WebhookEvent>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// A dead letter.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    id: String,
    delivery_id: String,
    integration_id: String,
    provider: String,
    event_type: String,
    idempotency_key: String,
    error: String,
    attempts: i32,
    received_at: String,
    first_failed_at: String,
    last_failed_at: String,
    dead_at: String,
    replayed_at: Option<String>,
    replay_count: i32,
}

/// How many dead letters a replay put back on the queue.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    success: bool,
    replayed: usize,
}

/// An email template.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    id: String,
    name: String,
    subject: String,
    html: String,
    text: Option<String>,
    from_name: Option<String>,
    from_email: Option<String>,
    created_at: String,
    updated_at: String,
}

/// A workflow's audience as stored.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowAudience {
    mailing_list_id: Option<String>,
    user_group: Option<String>,
}

/// A workflow.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    id: String,
    name: String,
    trigger: inlet_shared::workflows::Trigger,
    audience: WorkflowAudience,
    steps: Vec<inlet_shared::workflows::Step>,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

/// An email a workflow sent, or tried to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailSent {
    id: String,
    workflow_id: String,
    template_id: String,
    run_id: String,
    to: String,
    subject: String,
    /// queued (being sent or waiting for a retry), sent, failed or skipped.
    status: String,
    /// Why it failed, is being retried, or was skipped.
    error: Option<String>,
    attempts: i32,
    created_at: String,
    sent_at: Option<String>,
}
