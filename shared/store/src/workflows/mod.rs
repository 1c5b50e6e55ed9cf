//! Workflows: what starts one ([`Trigger`]), who it is for ([`Audience`]), its [`Step`]s,
//! and starting them. Every occurrence that can start one (a recorded event, a contact
//! added or updated, a contact joining a list) calls [`start`] inside the transaction that
//! applies it, so a workflow run exists exactly when its cause committed: the runs table is
//! a transactional outbox, and redeliveries or replays that change nothing start nothing.
//! A run's life from there is [`runs`]; its emails' is [`sends`].

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::entities::{contact, contact_list, workflow, workflow_run};
use crate::graph::NodeKind;
use crate::messages::TraceContext;

pub mod counts;
pub mod facts;
pub mod graph;
pub mod runs;
pub mod sends;
pub mod status;

/// One step of a workflow, as stored (JSON) and as the API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Step {
    /// Send a template to the contact.
    SendEmail {
        /// The template.
        template_id: String,
    },
    /// Wait before the next step.
    Wait {
        /// How long, 1 second to a year.
        seconds: u64,
    },
}

/// What starts a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Trigger {
    /// A platform event (`stripe:checkout.session.completed`) or a custom one (`signup`).
    Event {
        /// The event name.
        // Named again per field: utoipa's schema ignores `rename_all_fields`.
        #[serde(rename = "eventName")]
        event_name: String,
    },
    /// A contact is created.
    ContactAdded,
    /// A contact is updated.
    ContactUpdated,
    /// A contact joins a mailing list.
    AddedToList {
        /// The list.
        #[serde(rename = "listId")]
        list_id: String,
    },
}

impl Trigger {
    /// The `trigger_type` and `trigger_value` columns it is stored as (the ones
    /// [`Occurrence`]s are matched against).
    pub fn columns(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::Event { event_name } => ("event", Some(event_name)),
            Self::ContactAdded => ("contactAdded", None),
            Self::ContactUpdated => ("contactUpdated", None),
            Self::AddedToList { list_id } => ("addedToList", Some(list_id)),
        }
    }
}

/// Who a workflow is for (all contacts when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Audience {
    pub mailing_list_id: Option<String>,
    pub user_group: Option<String>,
}

/// Parses a workflow's stored steps.
pub fn steps_of(w: &workflow::Model) -> Result<Vec<Step>, serde_json::Error> {
    serde_json::from_str(&w.steps)
}

/// Something that happened to a contact and may start workflows.
#[derive(Debug, Clone, Copy)]
pub enum Occurrence<'a> {
    /// An event was recorded (platform `{provider}:{type}` or custom).
    Event {
        /// Its name.
        name: &'a str,
        /// Its properties (templates read them as `event.properties`).
        properties: &'a Map<String, Value>,
    },
    /// The contact was created.
    ContactAdded,
    /// The contact was updated.
    ContactUpdated,
    /// The contact joined this mailing list.
    AddedToList(&'a str),
}

impl Occurrence<'_> {
    /// The workflow trigger columns that match it.
    fn trigger(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::Event { name, .. } => ("event", Some(name)),
            Self::ContactAdded => ("contactAdded", None),
            Self::ContactUpdated => ("contactUpdated", None),
            Self::AddedToList(list) => ("addedToList", Some(list)),
        }
    }

    /// What templates see as `event.name` and `event.properties`.
    fn event(&self) -> (String, Value) {
        match self {
            Self::Event { name, properties } => {
                ((*name).to_owned(), Value::Object((*properties).clone()))
            }
            Self::ContactAdded => ("contactAdded".into(), Value::Object(Map::new())),
            Self::ContactUpdated => ("contactUpdated".into(), Value::Object(Map::new())),
            Self::AddedToList(list) => {
                ("addedToList".into(), serde_json::json!({ "listId": list }))
            }
        }
    }
}

/// The triggers of the enabled workflows, and the events every workflow's runs exit on,
/// read once per transaction, so that an occurrence no workflow listens to (or exits on)
/// costs no query at all.
#[derive(Debug, Default)]
pub struct Triggers {
    types: HashSet<String>,
    pairs: HashSet<(String, String)>,
    /// Event name → the workflows whose runs it ends (paused ones included: their runs
    /// wait, and still leave).
    exits: HashMap<String, Vec<String>>,
}

/// A workflow's columns [`Triggers::load`] reads: id, trigger type and value, enabled,
/// exit events.
type TriggerRow = (String, String, Option<String>, bool, Option<String>);

impl Triggers {
    /// Reads them.
    pub async fn load<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        let rows: Vec<TriggerRow> = workflow::Entity::find()
            .select_only()
            .column(workflow::Column::Id)
            .column(workflow::Column::TriggerType)
            .column(workflow::Column::TriggerValue)
            .column(workflow::Column::Enabled)
            .column(workflow::Column::ExitEvents)
            .into_tuple()
            .all(db)
            .await?;
        let mut triggers = Self::default();
        for (id, trigger_type, value, enabled, exits) in rows {
            // Written by `graph::save` only; a row that does not parse exits on nothing.
            let exits: Vec<String> = exits
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default();
            for name in exits {
                triggers.exits.entry(name).or_default().push(id.clone());
            }
            if !enabled {
                continue;
            }
            if let Some(value) = value {
                triggers.pairs.insert((trigger_type.clone(), value));
            }
            triggers.types.insert(trigger_type);
        }
        Ok(triggers)
    }

    /// Whether some enabled workflow's trigger matches (the query [`start`] makes).
    pub fn matches(&self, occurrence: &Occurrence<'_>) -> bool {
        match occurrence.trigger() {
            (trigger_type, Some(value)) => self
                .pairs
                .contains(&(trigger_type.to_owned(), value.to_owned())),
            (trigger_type, None) => self.types.contains(trigger_type),
        }
    }

    /// The workflows whose runs the event `name` ends.
    pub fn exiting(&self, name: &str) -> &[String] {
        self.exits.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Exit on event: cancels `contact_id`'s pending runs of the workflows that exit on the
/// event `name` (an audience filter applying downstream that the event makes fail). Call
/// in the transaction that records the event, before the runs it starts. Returns how many.
pub async fn exit_on_event<C: ConnectionTrait>(
    db: &C,
    triggers: &Triggers,
    contact_id: &str,
    name: &str,
) -> Result<u64, DbErr> {
    let workflows = triggers.exiting(name);
    if workflows.is_empty() {
        return Ok(0);
    }
    let reason = format!("Exited on the event {name}.");
    runs::cancel_pending_of_contact(db, contact_id, workflows, &reason).await
}

/// Starts one run per enabled workflow whose trigger matches and whose audience includes
/// the contact. Call inside the transaction that applies the occurrence, with the contact as
/// that transaction has made it (its user group is read from `contact`, not from its row, so
/// a contact still queued in a worker's unit of work needs no flush first). `trace` is the
/// trace context of what applies the occurrence (the delivery, the API request): the runs
/// record it, so their email sends join that trace. Returns how many runs started.
pub async fn start<C: ConnectionTrait>(
    db: &C,
    contact: &contact::Model,
    occurrence: Occurrence<'_>,
    trace: &TraceContext,
) -> Result<u32, DbErr> {
    let (trigger_type, trigger_value) = occurrence.trigger();
    let mut query = workflow::Entity::find()
        .filter(workflow::Column::Enabled.eq(true))
        .filter(workflow::Column::TriggerType.eq(trigger_type));
    query = match trigger_value {
        Some(v) => query.filter(workflow::Column::TriggerValue.eq(v)),
        None => query,
    };
    let workflows = query
        .order_by_asc(workflow::Column::CreatedAt)
        .all(db)
        .await?;
    if workflows.is_empty() {
        return Ok(0);
    }
    let mut started = 0;
    let (event_name, event_properties) = occurrence.event();
    let properties = event_properties.to_string();
    for w in workflows {
        if !in_audience(db, contact, &w).await? || !eligible(db, contact, &w).await? {
            continue;
        }
        runs::start(db, &w, contact, &event_name, &properties, trace).await?;
        started += 1;
    }
    Ok(started)
}

/// Whether the contact may start a run of `w`: always, unless its trigger is not
/// re-eligible and the contact has had a run of it (legacy workflows are re-eligible).
async fn eligible<C: ConnectionTrait>(
    db: &C,
    contact: &contact::Model,
    w: &workflow::Model,
) -> Result<bool, DbErr> {
    if w.graph.is_none() {
        return Ok(true);
    }
    // A graph that does not parse starts its run, which the runner dead-letters, in sight.
    let once = graph::of(w).is_ok_and(|g| {
        matches!(
            g.trigger().map(|n| &n.kind),
            Some(
                NodeKind::EventTrigger {
                    re_eligible: false,
                    ..
                } | NodeKind::AddToListTrigger { re_eligible: false }
            )
        )
    });
    if !once {
        return Ok(true);
    }
    let earlier = workflow_run::Entity::find()
        .select_only()
        .column(workflow_run::Column::Id)
        .filter(workflow_run::Column::WorkflowId.eq(w.id.as_str()))
        .filter(workflow_run::Column::ContactId.eq(contact.id.as_str()))
        .into_tuple::<String>()
        .one(db)
        .await?;
    Ok(earlier.is_none())
}

/// The audience filter: the workflow's mailing list and user group, when set.
async fn in_audience<C: ConnectionTrait>(
    db: &C,
    contact: &contact::Model,
    w: &workflow::Model,
) -> Result<bool, DbErr> {
    if let Some(list) = &w.audience_list_id {
        let member = contact_list::Entity::find()
            .filter(contact_list::Column::ContactId.eq(contact.id.as_str()))
            .filter(contact_list::Column::ListId.eq(list.as_str()))
            .one(db)
            .await?;
        if member.is_none() {
            return Ok(false);
        }
    }
    if let Some(group) = &w.audience_user_group
        && contact.user_group.as_deref() != Some(group.as_str())
    {
        return Ok(false);
    }
    Ok(true)
}

/// Starts the contact triggers of a write: `contactAdded` or `contactUpdated`, then
/// `addedToList` for each list the contact newly joined.
pub async fn contact_written<C: ConnectionTrait>(
    db: &C,
    contact: &contact::Model,
    created: bool,
    joined_lists: &[String],
    trace: &TraceContext,
) -> Result<(), DbErr> {
    let occurrence = if created {
        Occurrence::ContactAdded
    } else {
        Occurrence::ContactUpdated
    };
    start(db, contact, occurrence, trace).await?;
    for list in joined_lists {
        start(db, contact, Occurrence::AddedToList(list), trace).await?;
    }
    Ok(())
}
