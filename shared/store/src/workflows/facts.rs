//! What a run's audience filters are evaluated on: the contact's properties (as
//! `contacts/find` shows them, with `createdAt`), its lists, the events that reached it
//! since the run started, and the emails sent to it — gathered in a few indexed reads,
//! the events and the emails only when a filter asks about them.

use std::collections::BTreeSet;

use inlet_core::domain::format_ms;
use inlet_core::graph::conditions::{AudienceFilter, Condition, ContactFacts};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;

use crate::contacts::{contact_json, lists_of};
use crate::db::entities::email_send::EmailStatus;
use crate::db::entities::{contact, contact_event, email_send, workflow_run};

/// Which of the costlier facts some filter asks about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The events since the run started (`event` conditions).
    pub events: bool,
    /// The emails sent (`activity` conditions).
    pub sends: bool,
}

impl Needs {
    /// What `filters` ask about.
    pub fn of<'a>(filters: impl IntoIterator<Item = &'a AudienceFilter>) -> Self {
        let mut needs = Self::default();
        for c in filters.into_iter().flat_map(|f| &f.conditions) {
            match c {
                Condition::Event { .. } => needs.events = true,
                Condition::Activity { .. } => needs.sends = true,
                Condition::Property { .. }
                | Condition::OptIn { .. }
                | Condition::MailingList { .. } => {}
            }
        }
        needs
    }
}

/// The facts of `run`'s contact that `needs` asks for (properties and lists always), or
/// `None` when the contact is gone.
pub async fn gather<C: ConnectionTrait>(
    db: &C,
    run: &workflow_run::Model,
    needs: Needs,
) -> Result<Option<ContactFacts>, DbErr> {
    let Some(contact) = contact::Entity::find_by_id(run.contact_id.clone())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let lists = lists_of(db, &contact.id).await?;
    let mut properties = match contact_json(&contact, &lists) {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    properties.insert(
        "createdAt".into(),
        Value::String(format_ms(contact.created_at)),
    );
    // Recorded after the run started (the event that started it is recorded with it, at
    // or before its start, and does not count).
    let events: Vec<String> = if !needs.events {
        Vec::new()
    } else {
        contact_event::Entity::find()
            .select_only()
            .column(contact_event::Column::EventName)
            .filter(contact_event::Column::ContactId.eq(contact.id.as_str()))
            .filter(contact_event::Column::CreatedAt.gt(run.created_at))
            .distinct()
            .into_tuple()
            .all(db)
            .await?
    };
    // By address too (the indexed column): an email sent to an address the contact had
    // before does not count.
    let sent: Vec<(String, String)> = if !needs.sends {
        Vec::new()
    } else {
        email_send::Entity::find()
            .select_only()
            .column(email_send::Column::TemplateId)
            .column(email_send::Column::WorkflowId)
            .filter(email_send::Column::ToEmail.eq(contact.email.as_str()))
            .filter(email_send::Column::ContactId.eq(contact.id.as_str()))
            .filter(email_send::Column::Status.eq(EmailStatus::Sent.as_str()))
            .distinct()
            .into_tuple()
            .all(db)
            .await?
    };
    let (sent_messages, sent_workflows): (BTreeSet<String>, BTreeSet<String>) =
        sent.into_iter().unzip();
    Ok(Some(ContactFacts {
        properties,
        lists: lists.into_iter().collect(),
        events: events.into_iter().collect(),
        sent_messages,
        sent_workflows,
    }))
}
