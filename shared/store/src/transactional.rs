//! Transactional email (Loops' `/api/v1/transactional`): what a send carries from the API
//! to the worker, the data variables a template uses, and a message's content revision.
//!
//! A send is a workflow run of its own kind ([`EVENT`] as its event name, the transactional
//! email's id as its workflow id), started by [`start`] in the API request's transaction:
//! the runs table is the outbox, so a send exists exactly when its request committed, and
//! it is sent once through the runner's path (its `email_sends` row, retries, dead letters).
//! Its [`Payload`] (recipient, data variables, attachments) is the run's event properties,
//! cleared once the email is sent or given up.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::db::entities::{email_template, transactional_email};
use crate::messages::TraceContext;

/// The event name of a transactional send's run.
pub use crate::workflows::runs::TRANSACTIONAL_EVENT as EVENT;

/// The prefix of a transactional email's id (`new_id(ID_PREFIX)`), which tells its sends'
/// rows (their `workflow_id`) from a workflow's.
pub const ID_PREFIX: &str = "tx_";

/// Whether `workflow_id` of a run or send is a transactional email's.
pub fn is_transactional(workflow_id: &str) -> bool {
    workflow_id.starts_with(ID_PREFIX)
}

/// What one send carries (the run's event properties, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// The recipient.
    pub email: String,
    /// The data variables, as the request gave them.
    pub data_variables: Map<String, Value>,
    /// Files sent along, their data base64 as the request gave it (checked to decode).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// One attached file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attachment {
    /// The file name shown in email clients.
    pub filename: String,
    /// Its MIME type (`application/pdf`).
    pub content_type: String,
    /// Its content, base64.
    pub data: String,
}

/// Why attachments are refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttachmentError {
    /// `data` is not base64.
    #[error("attachments[{0}].data is not valid base64.")]
    Base64(usize),
    /// Together they decode to more than the limit.
    #[error("The attachments are larger than {limit} bytes (INLET_ATTACHMENTS_MAX_BYTES).")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// `contentType` is not a MIME type.
    #[error("attachments[{0}].contentType is not a valid MIME type.")]
    ContentType(usize),
    /// A file name is empty, too long, or has a control character.
    #[error("attachments[{0}].filename must be 1 to 255 characters without control characters.")]
    Filename(usize),
}

/// Decodes `data` (standard base64; line breaks and spaces, as MIME encoders add, ignored).
pub fn decode(data: &str) -> Option<Vec<u8>> {
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact.as_bytes()).ok()
}

/// Checks every attachment decodes and that together they stay within `limit` bytes.
/// The decoded size is bounded before decoding (base64 is 4 characters per 3 bytes), so a
/// huge value is refused without being decoded.
pub fn check_attachments(attachments: &[Attachment], limit: usize) -> Result<(), AttachmentError> {
    let mut total: usize = 0;
    for (i, a) in attachments.iter().enumerate() {
        let name_chars = a.filename.chars().count();
        if name_chars == 0 || name_chars > 255 || a.filename.chars().any(char::is_control) {
            return Err(AttachmentError::Filename(i));
        }
        if lettre::message::header::ContentType::parse(&a.content_type).is_err() {
            return Err(AttachmentError::ContentType(i));
        }
        let chars = a.data.bytes().filter(|b| !b.is_ascii_whitespace()).count();
        let at_least = (chars / 4).saturating_mul(3).saturating_sub(2);
        if total.saturating_add(at_least) > limit {
            return Err(AttachmentError::TooLarge { limit });
        }
        let bytes = decode(&a.data).ok_or(AttachmentError::Base64(i))?;
        total = total.saturating_add(bytes.len());
        if total > limit {
            return Err(AttachmentError::TooLarge { limit });
        }
    }
    Ok(())
}

/// The data variables a template uses: the names its subject and bodies read that they do
/// not set themselves (`{{ name }}`, `{% for item in items %}` reads `items`), sorted;
/// the engine's globals (`range`) are not data variables.
pub fn data_variables(template: &email_template::Model) -> Result<Vec<String>, minijinja::Error> {
    let env = minijinja::Environment::new();
    let mut names = BTreeSet::new();
    let parts = [
        Some(template.subject.as_str()),
        Some(template.html.as_str()),
        template.text.as_deref(),
    ];
    for source in parts.into_iter().flatten() {
        names.extend(env.template_from_str(source)?.undeclared_variables(false));
    }
    // The engine's own globals (`range`, `namespace`, …) are read too, but given by it.
    for (global, _) in env.globals() {
        names.remove(global);
    }
    Ok(names.into_iter().collect())
}

/// The data variables of `required` that `given` lacks (Loops treats `""` as given).
pub fn missing<'a>(required: &'a [String], given: &Map<String, Value>) -> Vec<&'a str> {
    required
        .iter()
        .filter(|name| given.get(name.as_str()).is_none_or(Value::is_null))
        .map(String::as_str)
        .collect()
}

/// A message's `contentRevisionId`: a digest of what it sends, so it changes with every
/// edit of its content and needs no column (an edit that restores the content restores
/// the revision, which is harmless: the content is the same).
pub fn revision(template: &email_template::Model) -> String {
    let mut digest = Sha256::new();
    for part in [
        Some(template.subject.as_str()),
        Some(template.html.as_str()),
        template.text.as_deref(),
        template.from_name.as_deref(),
        template.from_email.as_deref(),
    ] {
        // Each part is length-prefixed, so moving text from one part to the next changes it.
        let part = part.map(str::as_bytes);
        digest.update(part.map_or(u64::MAX, |p| p.len() as u64).to_be_bytes());
        digest.update(part.unwrap_or_default());
    }
    let bytes = digest.finalize();
    format!("rev_{}", hex::encode(bytes.get(..12).unwrap_or_default()))
}

/// Starts the send of `payload` as a run of `transactional_id` (to `contact_id`, or `""`
/// when the recipient is not a contact), due now, in the caller's transaction.
pub async fn start<C: ConnectionTrait>(
    db: &C,
    transactional_id: &str,
    contact_id: &str,
    payload: &Payload,
    trace: &TraceContext,
) -> Result<String, DbErr> {
    let properties = serde_json::to_string(payload).map_err(|e| DbErr::Custom(e.to_string()))?;
    crate::workflows::runs::start_transactional(
        db,
        transactional_id,
        contact_id,
        &properties,
        trace,
    )
    .await
}

/// What a template is to the transactional email it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Its draft: edited, then published.
    Draft,
    /// Its published message: what is sent, changed only by publishing a draft.
    Published,
}

/// The transactional email `template_id` belongs to, and as what; `None` for a template of
/// its own (a workflow's).
pub async fn owner_of<C: ConnectionTrait>(
    db: &C,
    template_id: &str,
) -> Result<Option<(transactional_email::Model, Role)>, DbErr> {
    let owner = transactional_email::Entity::find()
        .filter(
            Condition::any()
                .add(transactional_email::Column::DraftTemplateId.eq(template_id))
                .add(transactional_email::Column::PublishedTemplateId.eq(template_id)),
        )
        .one(db)
        .await?;
    Ok(owner.map(|t| {
        let role = if t.draft_template_id.as_deref() == Some(template_id) {
            Role::Draft
        } else {
            Role::Published
        };
        (t, role)
    }))
}

#[cfg(test)]
mod tests;
