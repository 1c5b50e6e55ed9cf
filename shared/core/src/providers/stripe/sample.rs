//! A realistic Stripe sample delivery for every supported event type (the body only;
//! [`crate::providers::samples::sign`] signs it).

use serde_json::{Value, json};

use crate::providers::person::Person;

fn stripe_event(event_type: &str, now: i64, object: Value) -> Value {
    json!({
        "id": format!("evt_{}", crate::domain::new_id("")),
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
        "data": {"object": object}
    })
}

/// The body of a sample `event_type` delivery about `p`, or `None` when it is not supported.
pub(in crate::providers) fn sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
    let name = format!("{} {}", p.first_name, p.last_name);
    let object = match event_type {
        "customer.created" | "customer.updated" | "customer.deleted" => json!({
            "id": p.id, "object": "customer", "email": p.email, "name": name, "created": now,
            "currency": "usd", "delinquent": false, "metadata": {}, "livemode": false,
            "deleted": event_type == "customer.deleted"
        }),
        t if t.starts_with("checkout.session.") => json!({
            "id": "cs_test_a1b2c3", "object": "checkout.session", "amount_total": 4900, "amount_subtotal": 4900,
            "currency": "usd", "customer": p.id, "mode": "subscription", "status": "complete",
            "payment_status": if t.ends_with("failed") { "unpaid" } else { "paid" },
            "subscription": "sub_1PqR2s", "created": now,
            "customer_details": {"email": p.email, "name": name, "phone": null, "address": null, "tax_exempt": "none", "tax_ids": []}
        }),
        t if t.starts_with("invoice.") => json!({
            "id": "in_1PqR2s", "object": "invoice", "customer": p.id, "customer_email": p.email, "customer_name": name,
            "amount_due": 4900, "amount_paid": if t == "invoice.paid" { 4900 } else { 0 }, "amount_remaining": 0,
            "currency": "usd", "status": if t == "invoice.paid" { "paid" } else { "open" },
            "billing_reason": "subscription_cycle", "subscription": "sub_1PqR2s", "created": now,
            "lines": {"object": "list", "data": [{"id": "il_1", "object": "line_item", "amount": 4900, "currency": "usd",
                "price": {"id": "price_pro_monthly", "object": "price", "nickname": "Pro monthly", "product": "prod_Pro", "unit_amount": 4900, "currency": "usd"}}],
                "has_more": false, "total_count": 1}
        }),
        t if t.starts_with("customer.subscription.") => json!({
            "id": "sub_1PqR2s", "object": "subscription", "customer": p.id,
            "status": match t { "customer.subscription.paused" => "paused", "customer.subscription.deleted" => "canceled",
                "customer.subscription.trial_will_end" => "trialing", _ => "active" },
            "cancel_at_period_end": false, "current_period_end": now.saturating_add(30 * 86_400), "trial_end": now.saturating_add(3 * 86_400), "created": now,
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item", "quantity": 1,
                "price": {"id": "price_pro_monthly", "object": "price", "nickname": "Pro monthly", "lookup_key": "pro_monthly",
                    "product": "prod_Pro", "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month", "interval_count": 1}}}],
                "has_more": false, "total_count": 1}
        }),
        t if t.starts_with("quote.") => json!({
            "id": "qt_1PqR2s", "object": "quote", "customer": p.id, "amount_total": 120_000, "currency": "usd",
            "status": match t { "quote.accepted" => "accepted", "quote.canceled" => "canceled", _ => "open" }, "created": now
        }),
        t if t.starts_with("charge.dispute.") => json!({
            "id": "dp_1PqR2s", "object": "dispute", "amount": 4900, "currency": "usd", "charge": "ch_1PqR2s",
            "payment_intent": "pi_1PqR2s", "reason": "fraudulent",
            "status": if t.ends_with("closed") { "lost" } else { "needs_response" }, "created": now,
            "evidence": {"customer_email_address": p.email, "customer_name": name}
        }),
        _ => return None,
    };
    Some(stripe_event(event_type, now, object))
}
