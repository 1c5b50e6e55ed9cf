//! Answers several routes share; each route's own answer types sit beside its handler. The
//! OpenAPI document is derived from these types and the handlers write them, so the two
//! cannot differ.

use serde::Serialize;
use utoipa::ToSchema;

pub use crate::error::Message;

/// `{success: true, id}`: what a create (or a contact upsert) answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    success: bool,
    /// The id of the created (or updated) resource.
    id: String,
}

impl Created {
    /// The answer naming `id`.
    pub fn new(id: String) -> Self {
        Self { success: true, id }
    }
}
