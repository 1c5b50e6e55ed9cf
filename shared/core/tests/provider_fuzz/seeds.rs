//! Realistic deliveries to start from: the signed samples of every supported event type,
//! plus shapes the samples do not take (newer Stripe API versions, Postgres text times,
//! other Supabase tables, deletions that carry little).

use inlet_core::providers::Provider;
use inlet_core::providers::samples::{self, Person};
use serde_json::{Value, json};

/// When the seeds were "sent" (and the fuzz cases are verified).
pub const NOW: i64 = 1_718_000_000;

const PERSON: Person<'static> = Person {
    email: "Jenny.Rosen@Example.com",
    first_name: "Jenny",
    last_name: "King Rosen",
    id: "cus_Q2x9Lr0mAb3KfT",
};

/// Every seed of `provider`, as JSON.
pub fn seeds(provider: Provider) -> Vec<Value> {
    let mut seeds: Vec<Value> = provider
        .supported_events()
        .iter()
        .filter_map(|t| samples::sample(provider, t, &PERSON, NOW))
        .filter_map(|body| serde_json::from_str(&body).ok())
        .collect();
    seeds.extend(extra(provider));
    seeds
}

fn extra(provider: Provider) -> Vec<Value> {
    match provider {
        Provider::Stripe => vec![
            // API 2025-03-31 and later: the subscription and price moved.
            json!({"id": "evt_1R0aBd2eZvKYlo2Cn1", "object": "event", "type": "invoice.paid",
                "created": NOW, "api_version": "2025-03-31.basil", "data": {"object": {
                "id": "in_1R0aBc2eZvKYlo2CzZ9yXw8v", "object": "invoice", "customer": {"id": "cus_X", "object": "customer"},
                "customer_email": "jenny.rosen@example.com", "customer_name": null, "amount_paid": 2000,
                "currency": "eur", "status": "paid", "billing_reason": "subscription_cycle",
                "parent": {"quote_details": null, "type": "subscription_details",
                    "subscription_details": {"metadata": {}, "subscription": "sub_1R0a"}},
                "lines": {"object": "list", "has_more": false, "data": [{"id": "il_1", "amount": 2000,
                    "pricing": {"type": "price_details", "unit_amount_decimal": "2000",
                        "price_details": {"price": "price_1PQ0", "product": "prod_Q1"}}}]}}}}),
            // A checkout with only the prefilled address, an expanded customer.
            json!({"id": "evt_1Chk", "object": "event", "type": "checkout.session.completed",
                "created": NOW, "data": {"object": {"id": "cs_test_d1", "object": "checkout.session",
                "customer_email": "prefilled@example.com", "customer_details": null,
                "customer": {"id": "cus_Y", "email": "other@example.com"}, "amount_total": 900,
                "currency": "usd", "mode": "payment", "payment_status": "paid", "status": "complete"}}}),
            // A dispute that names a customer but no address.
            json!({"id": "evt_1Dsp", "object": "event", "type": "charge.dispute.closed", "created": NOW,
                "data": {"object": {"id": "dp_1", "object": "dispute", "amount": 4900, "currency": "usd",
                "charge": "ch_1", "customer": "cus_Z", "reason": "fraudulent", "status": "won",
                "evidence": {"customer_email_address": null}}}}),
            // An event type Inlet does not handle.
            json!({"id": "evt_1Pi", "object": "event", "type": "payment_intent.created", "created": NOW,
                "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 100}}}),
        ],
        Provider::Clerk => vec![
            json!({"type": "user.updated", "object": "event", "timestamp": NOW * 1000, "data": {
                "id": "user_2Ab", "object": "user", "first_name": null, "last_name": "",
                "primary_email_address_id": "idn_missing", "email_addresses": [],
                "phone_numbers": [{"id": "idn_p", "phone_number": "+15555550100"}]}}),
            json!({"type": "session.created", "data": {"id": "sess_1", "user_id": "user_2Ab"}}),
        ],
        Provider::Polar => vec![
            // Times without an offset, and a customer without a name.
            json!({"type": "order.paid", "timestamp": "2025-03-14T09:26:53.123456", "data": {
                "id": "ord_2", "status": "paid", "total_amount": 0, "currency": "eur",
                "billing_reason": "subscription_create", "modified_at": null,
                "customer": {"id": "cus_2", "email": "noname@example.com", "name": null,
                    "external_id": null}, "product": {"id": "prod_2", "name": "Free"}}}),
            json!({"type": "checkout.created", "timestamp": "2025-03-14T09:26:53Z", "data": {}}),
        ],
        Provider::Supabase => vec![
            // Postgres text times with each offset form.
            json!({"type": "UPDATE", "schema": "auth", "table": "users",
                "record": {"id": "8c1d6a52-3f0e-4b7a-9e2d-5a6b7c8d9e01", "email": "ada@example.com",
                    "updated_at": "2024-05-02 10:15:30.5+02", "email_confirmed_at": "2024-05-02 08:15:30.600000+0000",
                    "raw_user_meta_data": {"full_name": "Ada King Lovelace"},
                    "raw_app_meta_data": {"provider": "google"}},
                "old_record": {"id": "8c1d6a52-3f0e-4b7a-9e2d-5a6b7c8d9e01", "updated_at": "2024-05-02 03:15:30-05:00"}}),
            json!({"type": "INSERT", "schema": "public", "table": "profiles",
                "record": {"id": 1, "username": "ada", "updated_at": null}, "old_record": null}),
            json!({"type": "DELETE", "schema": "auth", "table": "users", "record": null,
                "old_record": {"id": "8c1d6a52-3f0e-4b7a-9e2d-5a6b7c8d9e01", "email": null,
                    "raw_user_meta_data": null}}),
        ],
    }
}
