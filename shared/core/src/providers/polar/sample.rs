//! A realistic Polar sample delivery for every supported event type (the body only;
//! [`crate::providers::samples::sign`] signs it).

use serde_json::{Value, json};

use crate::providers::person::{Person, iso};

/// The body of a sample `event_type` delivery about `p`, or `None` when it is not supported.
pub(in crate::providers) fn sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
    let name = format!("{} {}", p.first_name, p.last_name);
    let customer = json!({
        "id": p.id, "email": p.email, "name": name, "external_id": "user_42",
        "created_at": iso(now), "modified_at": iso(now), "metadata": {}, "organization_id": "org_1"
    });
    let product = json!({"id": "prod_pro", "name": "Pro", "is_recurring": true});
    let data = match event_type {
        "customer.created" | "customer.updated" | "customer.deleted" => customer,
        "order.paid" => json!({
            "id": "ord_1", "status": "paid", "paid": true, "total_amount": 2900, "amount": 2900, "subtotal_amount": 2900,
            "currency": "usd", "billing_reason": "purchase", "customer_id": p.id, "customer": customer,
            "product_id": "prod_pro", "product": product, "created_at": iso(now), "modified_at": iso(now)
        }),
        t if t.starts_with("subscription.") => json!({
            "id": "sub_1", "status": match t { "subscription.canceled" | "subscription.revoked" => "canceled",
                "subscription.past_due" => "past_due", _ => "active" },
            "amount": 2900, "currency": "usd", "recurring_interval": "month",
            "cancel_at_period_end": t == "subscription.canceled", "current_period_end": iso(now.saturating_add(30 * 86_400)),
            "customer_id": p.id, "customer": customer, "product_id": "prod_pro", "product": product,
            "created_at": iso(now), "modified_at": iso(now)
        }),
        _ => return None,
    };
    Some(json!({"type": event_type, "timestamp": iso(now), "data": data}))
}
