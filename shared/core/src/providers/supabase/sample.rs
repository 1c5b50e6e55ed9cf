//! A realistic Supabase sample delivery for every supported event type (the body only;
//! [`crate::providers::samples::sign`] signs it).

use serde_json::{Value, json};

use crate::providers::person::{Person, iso};

/// The body of a sample `event_type` delivery about `p`, or `None` when it is not supported.
pub(in crate::providers) fn sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
    let record = json!({
        "id": p.id, "aud": "authenticated", "role": "authenticated", "email": p.email,
        "email_confirmed_at": iso(now), "created_at": iso(now), "updated_at": iso(now),
        "raw_app_meta_data": {"provider": "email", "providers": ["email"]},
        "raw_user_meta_data": {"first_name": p.first_name, "last_name": p.last_name}
    });
    let (kind, record, old) = match event_type {
        "auth.users.insert" => ("INSERT", record, Value::Null),
        "auth.users.update" => ("UPDATE", record.clone(), record),
        "auth.users.delete" => ("DELETE", Value::Null, record),
        _ => return None,
    };
    Some(
        json!({"type": kind, "table": "users", "schema": "auth", "record": record, "old_record": old}),
    )
}
