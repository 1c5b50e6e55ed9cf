//! Realistic sample deliveries for every supported event type, signed as the platform signs
//! them: what `inlet send-test-event` posts (like `stripe trigger`), so a new user sees a
//! contact appear without connecting a real account.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Provider;

/// Who a sample is about.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    /// Email address.
    pub email: &'a str,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// A platform id for the person (Stripe customer, Clerk/Supabase user, Polar customer).
    pub id: &'a str,
}

fn iso(secs: i64) -> String {
    crate::domain::format_ms(secs.saturating_mul(1000))
}

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

fn stripe_sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
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

fn clerk_sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
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

fn polar_sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
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

fn supabase_sample(event_type: &str, p: &Person<'_>, now: i64) -> Option<Value> {
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

/// A sample body for `event_type`, or `None` when the provider does not support it.
pub fn sample(
    provider: Provider,
    event_type: &str,
    person: &Person<'_>,
    now_secs: i64,
) -> Option<String> {
    let value = match provider {
        Provider::Stripe => stripe_sample(event_type, person, now_secs),
        Provider::Clerk => clerk_sample(event_type, person, now_secs),
        Provider::Polar => polar_sample(event_type, person, now_secs),
        Provider::Supabase => supabase_sample(event_type, person, now_secs),
    }?;
    Some(value.to_string())
}

fn hmac_b64(key: &[u8], parts: &[&[u8]]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

/// The headers that sign `body` with `secret` the way the platform does. `message_id` is
/// the Svix / Standard Webhooks message id.
pub fn sign(
    provider: Provider,
    secret: &str,
    body: &str,
    now_secs: i64,
    message_id: &str,
) -> Option<Vec<(String, String)>> {
    let t = now_secs.to_string();
    Some(match provider {
        Provider::Stripe => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
            mac.update(format!("{t}.{body}").as_bytes());
            let sig = hex::encode(mac.finalize().into_bytes());
            vec![("Stripe-Signature".into(), format!("t={t},v1={sig}"))]
        }
        Provider::Clerk | Provider::Polar => {
            let key = match secret.strip_prefix("whsec_").map(|k| STANDARD.decode(k)) {
                Some(Ok(key)) => key,
                // Polar's legacy derivation: the whole secret string is the key.
                _ => secret.as_bytes().to_vec(),
            };
            let sig = hmac_b64(
                &key,
                &[
                    message_id.as_bytes(),
                    b".",
                    t.as_bytes(),
                    b".",
                    body.as_bytes(),
                ],
            )?;
            let prefix = if provider == Provider::Clerk {
                "svix"
            } else {
                "webhook"
            };
            vec![
                (format!("{prefix}-id"), message_id.to_owned()),
                (format!("{prefix}-timestamp"), t),
                (format!("{prefix}-signature"), format!("v1,{sig}")),
            ]
        }
        Provider::Supabase => vec![("Loops-Secret".into(), secret.to_owned())],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Mapping, SigningKey};

    const PERSON: Person<'static> = Person {
        email: "sample@example.com",
        first_name: "Sam",
        last_name: "Ple",
        id: "cus_Sample01",
    };

    fn secret_for(provider: Provider) -> &'static str {
        match provider {
            Provider::Stripe => "whsec_sample_secret_0123456789",
            Provider::Clerk | Provider::Polar => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            Provider::Supabase => "0123456789abcdef0123456789abcdef",
        }
    }

    #[test]
    fn every_supported_event_has_a_sample_that_verifies_and_maps() {
        let now = 1_700_000_000;
        for provider in Provider::ALL {
            let secret = secret_for(provider);
            let keys: Vec<SigningKey> = vec![provider.signing_key(secret).unwrap()];
            for event_type in provider.supported_events() {
                let body = sample(provider, event_type, &PERSON, now)
                    .unwrap_or_else(|| panic!("no sample for {provider}:{event_type}"));
                let headers = sign(provider, secret, &body, now, "msg_sample").unwrap();
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                provider
                    .verify(&keys, &headers, body.as_bytes(), now, 300)
                    .unwrap_or_else(|e| panic!("{provider}:{event_type}: {e}"));
                let envelope = provider.envelope(&headers, body.as_bytes()).unwrap();
                assert_eq!(&envelope.event_type, event_type);
                assert!(envelope.ignore.is_none());
                let mapping = provider.map(body.as_bytes(), now * 1000).unwrap();
                assert!(
                    matches!(mapping, Mapping::Contact(_)),
                    "{provider}:{event_type} → {mapping:?}"
                );
            }
        }
    }
}
