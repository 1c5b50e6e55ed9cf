//! A realistic Clerk sample delivery for every supported event type (the body only;
//! [`crate::providers::samples::sign`] signs it).

use serde_json::{Value, json};

use crate::providers::person::Person;

/// The body of a sample `event_type` delivery about `p`, or `None` when it is not supported.
pub(in crate::providers) fn sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
    let now_ms = now.saturating_mul(1000);
    let data = match event_type {
        "user.created" | "user.updated" => json!({
            "id": p.id, "object": "user", "first_name": p.first_name, "last_name": p.last_name,
            "primary_email_address_id": "idn_primary",
            "email_addresses": [
                {"id": "idn_other", "object": "email_address", "email_address": "old-address@example.com", "verification": {"status": "verified"}},
                {"id": "idn_primary", "object": "email_address", "email_address": p.email, "verification": {"status": "verified"}}
            ],
            "created_at": now_ms, "updated_at": now_ms, "username": null, "image_url": "https://img.clerk.com/x"
        }),
        "user.deleted" => json!({"id": p.id, "object": "user", "deleted": true}),
        "waitlistEntry.created" | "waitlistEntry.updated" => json!({
            "id": "wle_2abc", "object": "waitlist_entry", "email_address": p.email,
            "status": if event_type.ends_with("created") { "pending" } else { "invited" },
            "created_at": now_ms, "updated_at": now_ms
        }),
        _ => return None,
    };
    Some(
        json!({"data": data, "object": "event", "type": event_type, "timestamp": now_ms, "instance_id": "ins_2abc"}),
    )
}
