//! A node's own fields changed as Loops' `UpdateWorkflowNodePayload` says: a trigger's
//! type, event and re-eligibility, an audience filter's conditions, a timer's length, a
//! variant's rate. Each field is checked against the node's type and its rules, and what
//! Inlet does not support is refused by name, so a saved graph is one the runner can run.

use serde::Deserialize;
use serde_json::{Number, Value};

use super::error::EditError;
use super::valid::{check_event_name, check_filter};
use super::{AudienceFilter, Graph, NodeKind, TimerUnit};

/// The longest timer: a year, as Loops.
pub const MAX_TIMER_MILLIS: u64 = 365 * 86_400_000;

/// Loops' `UpdateWorkflowNodePayload`: the fields of every node type, each optional; those
/// that do not belong to the node's type are refused.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeUpdate {
    /// A trigger's new type (`SignupTrigger`, `EventTrigger`, `AddToListTrigger`).
    pub type_name: Option<String>,
    /// Resolved to its event name by the caller (the store knows the patterns).
    #[serde(default, deserialize_with = "present")]
    pub event_pattern_id: Option<Option<String>>,
    /// An event trigger's event.
    #[serde(default, deserialize_with = "present")]
    pub event_name: Option<Option<String>>,
    /// Whether a contact may start the workflow again.
    pub re_eligible: Option<bool>,
    /// Loops' property-change trigger (Inlet has none yet).
    pub contact_property_query: Option<Value>,
    /// Loops' saved segments (Inlet has none).
    #[serde(default, deserialize_with = "present")]
    pub audience_segment_id: Option<Option<String>>,
    /// An audience filter's conditions (`null`: none, everyone passes).
    #[serde(default, deserialize_with = "present")]
    pub audience_filter: Option<Option<AudienceFilter>>,
    /// Whether later nodes check the filter again.
    pub applies_downstream: Option<bool>,
    /// A timer's amount.
    pub amount: Option<Number>,
    /// A timer's unit.
    pub unit: Option<TimerUnit>,
    /// A variant's share, 0 to 100.
    pub sampling_rate: Option<Number>,
    /// Whether a variant is the control.
    pub is_control: Option<bool>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn invalid(message: impl Into<String>) -> EditError {
    EditError::Invalid(message.into())
}

/// Refuses a field the node's type does not have.
fn not_for(field: &str, given: bool, kind: &NodeKind) -> Result<(), EditError> {
    if given {
        Err(invalid(format!(
            "{field} does not apply to a {} node.",
            kind.type_name()
        )))
    } else {
        Ok(())
    }
}

/// A whole number from `lo` to `hi`.
fn whole(field: &str, n: &Number, lo: u64, hi: u64) -> Result<u64, EditError> {
    n.as_u64()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| invalid(format!("{field} must be a whole number from {lo} to {hi}.")))
}

/// The kind a trigger becomes when its type changes to `type_name`.
fn retyped(current: &NodeKind, type_name: &str) -> Result<NodeKind, EditError> {
    if current.type_name() == type_name {
        return Ok(current.clone());
    }
    let re_eligible = match current {
        NodeKind::EventTrigger { re_eligible, .. } | NodeKind::AddToListTrigger { re_eligible } => {
            *re_eligible
        }
        _ => false,
    };
    match type_name {
        "SignupTrigger" => Ok(NodeKind::SignupTrigger),
        "EventTrigger" => Ok(NodeKind::EventTrigger {
            event_name: None,
            re_eligible,
        }),
        "AddToListTrigger" => Ok(NodeKind::AddToListTrigger { re_eligible }),
        "ContactPropertyTrigger" => Err(invalid(
            "ContactPropertyTrigger is not supported by Inlet (it has no property-change trigger yet).",
        )),
        other => Err(invalid(format!(
            "typeName {other} is not a trigger type (SignupTrigger, EventTrigger, AddToListTrigger)."
        ))),
    }
}

/// Applies `u` to node `id`. Only the trigger may change its type.
pub fn update(g: &mut Graph, id: &str, u: &NodeUpdate) -> Result<(), EditError> {
    let current = g
        .nodes
        .get(id)
        .map(|n| n.kind.clone())
        .ok_or_else(|| EditError::NoSuchNode(id.to_owned()))?;
    let mut kind = match &u.type_name {
        Some(t) if current.is_trigger() => retyped(&current, t)?,
        Some(t) if t != current.type_name() => {
            return Err(invalid(format!(
                "typeName: a {} node cannot become {t}; only the trigger changes its type.",
                current.type_name()
            )));
        }
        _ => current,
    };
    if u.contact_property_query.is_some() {
        return Err(invalid(
            "contactPropertyQuery is not supported by Inlet (it has no property-change trigger yet).",
        ));
    }
    if u.event_pattern_id.as_ref().is_some_and(Option::is_some) {
        return Err(invalid(
            "eventPatternId is resolved to an event name before the update; give eventName.",
        ));
    }
    if u.audience_segment_id.as_ref().is_some_and(Option::is_some) {
        return Err(invalid(
            "audienceSegmentId is not supported by Inlet (it has no saved segments); give audienceFilter.",
        ));
    }
    let trigger_field = u.re_eligible.is_some();
    let event_field = u.event_name.is_some();
    let filter_field = u.audience_filter.is_some() || u.applies_downstream.is_some();
    let timer_field = u.amount.is_some() || u.unit.is_some();
    let variant_field = u.sampling_rate.is_some() || u.is_control.is_some();
    match &mut kind {
        NodeKind::EventTrigger {
            event_name,
            re_eligible,
        } => {
            if let Some(name) = &u.event_name {
                if let Some(n) = name {
                    check_event_name(n)?;
                }
                event_name.clone_from(name);
            }
            if let Some(r) = u.re_eligible {
                *re_eligible = r;
            }
            not_for("audienceFilter", filter_field, &kind)?;
            not_for("amount", timer_field, &kind)?;
            not_for("samplingRate", variant_field, &kind)?;
        }
        NodeKind::AddToListTrigger { re_eligible } => {
            if let Some(r) = u.re_eligible {
                *re_eligible = r;
            }
            not_for("eventName", event_field, &kind)?;
            not_for("audienceFilter", filter_field, &kind)?;
            not_for("amount", timer_field, &kind)?;
            not_for("samplingRate", variant_field, &kind)?;
        }
        NodeKind::AudienceFilter {
            filter,
            applies_downstream,
        } => {
            if let Some(f) = &u.audience_filter {
                if let Some(f) = f {
                    check_filter(f)?;
                }
                filter.clone_from(f);
            }
            if let Some(a) = u.applies_downstream {
                *applies_downstream = a;
            }
            not_for("reEligible", trigger_field, &kind)?;
            not_for("eventName", event_field, &kind)?;
            not_for("amount", timer_field, &kind)?;
            not_for("samplingRate", variant_field, &kind)?;
        }
        NodeKind::TimerAction { amount, unit } => {
            let new_amount = match &u.amount {
                Some(n) => u32::try_from(whole("amount", n, 1, u64::from(u32::MAX))?)
                    .map_err(|_| invalid("amount is too large."))?,
                None => *amount,
            };
            let new_unit = u.unit.unwrap_or(*unit);
            if u64::from(new_amount).saturating_mul(new_unit.millis()) > MAX_TIMER_MILLIS {
                return Err(invalid("A timer waits at most 365 days."));
            }
            (*amount, *unit) = (new_amount, new_unit);
            not_for("reEligible", trigger_field, &kind)?;
            not_for("eventName", event_field, &kind)?;
            not_for("audienceFilter", filter_field, &kind)?;
            not_for("samplingRate", variant_field, &kind)?;
        }
        NodeKind::VariantNode {
            sampling_rate,
            is_control,
        } => {
            if let Some(n) = &u.sampling_rate {
                *sampling_rate = u8::try_from(whole("samplingRate", n, 0, 100)?)
                    .map_err(|_| invalid("samplingRate must be 0 to 100."))?;
            }
            if let Some(c) = u.is_control {
                *is_control = c;
            }
            not_for("reEligible", trigger_field, &kind)?;
            not_for("eventName", event_field, &kind)?;
            not_for("audienceFilter", filter_field, &kind)?;
            not_for("amount", timer_field, &kind)?;
        }
        other => {
            let any = trigger_field || event_field || filter_field || timer_field || variant_field;
            not_for("This field", any, other)?;
        }
    }
    if let Some(n) = g.nodes.get_mut(id) {
        n.kind = kind;
    }
    Ok(())
}
