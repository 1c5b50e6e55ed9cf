//! Stripe events and objects for the mapping tests: each object is a payload from
//! `fixtures/`, shaped as Stripe sends it, with the fields a case varies set here.

use serde_json::json;

use super::*;

pub(super) const CUS: &str = "cus_QGm7xK2pLq9TnB";
pub(super) const SUB: &str = "sub_1PQ0s22eZvKYlo2CrH3kWm8q";
pub(super) const PRODUCT: &str = "prod_PwQ8cU3mXyZ1aB";

pub(super) fn stripe_event(id: &str, event_type: &str, created: i64, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": "req_Q8nD2kWqVd3xkL", "idempotency_key": "9d1f4c0e-7b1a-4b8e-a3c2-2f6e8b1d5a90" },
        "type": event_type
    })
    .to_string()
}

/// A fixture file as JSON.
fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

pub(super) fn customer_object(id: &str, email: Option<&str>, name: Option<&str>) -> Value {
    let mut customer = fixture(include_str!("../fixtures/customer.json"));
    customer["id"] = json!(id);
    customer["email"] = json!(email);
    customer["name"] = json!(name);
    customer
}

#[allow(clippy::too_many_arguments)]
pub(super) fn checkout_object(
    id: &str,
    mode: &str,
    payment_status: &str,
    amount_total: i64,
    customer: Option<&str>,
    email: Option<&str>,
    name: Option<&str>,
    subscription: Option<&str>,
) -> Value {
    let mut session = fixture(include_str!("../fixtures/checkout_session.json"));
    session["id"] = json!(id);
    session["mode"] = json!(mode);
    session["payment_status"] = json!(payment_status);
    session["amount_subtotal"] = json!(amount_total);
    session["amount_total"] = json!(amount_total);
    session["customer"] = json!(customer);
    session["customer_details"]["email"] = json!(email);
    session["customer_details"]["name"] = json!(name);
    session["subscription"] = json!(subscription);
    session["payment_intent"] = json!((mode == "payment").then_some("pi_3PQ1xL2eZvKYlo2C0v1XbB7n"));
    session
}

pub(super) fn price_object(
    id: &str,
    nickname: Option<&str>,
    lookup_key: Option<&str>,
    unit_amount: i64,
    interval: &str,
) -> Value {
    let mut price = fixture(include_str!("../fixtures/price.json"));
    price["id"] = json!(id);
    price["nickname"] = json!(nickname);
    price["lookup_key"] = json!(lookup_key);
    price["unit_amount"] = json!(unit_amount);
    price["unit_amount_decimal"] = json!(unit_amount.to_string());
    price["recurring"]["interval"] = json!(interval);
    price
}

/// An invoice for a monthly Pro price; `invoice.upcoming` previews have no `id`.
#[allow(clippy::too_many_arguments)]
pub(super) fn invoice_object(
    id: Option<&str>,
    status: &str,
    amount_due: i64,
    amount_paid: i64,
    billing_reason: &str,
    customer: &str,
    email: Option<&str>,
    name: Option<&str>,
) -> Value {
    let mut invoice = fixture(include_str!("../fixtures/invoice.json"));
    match id {
        Some(id) => invoice["id"] = json!(id),
        None => {
            invoice.as_object_mut().unwrap().remove("id");
        }
    }
    invoice["status"] = json!(status);
    invoice["amount_due"] = json!(amount_due);
    invoice["amount_paid"] = json!(amount_paid);
    invoice["amount_remaining"] = json!(amount_due - amount_paid);
    invoice["attempt_count"] = json!(if status == "draft" { 0 } else { 1 });
    invoice["attempted"] = json!(status != "draft");
    invoice["paid"] = json!(status == "paid");
    invoice["billing_reason"] = json!(billing_reason);
    invoice["customer"] = json!(customer);
    invoice["customer_email"] = json!(email);
    invoice["customer_name"] = json!(name);
    invoice["subtotal"] = json!(amount_due);
    invoice["total"] = json!(amount_due);
    invoice["lines"]["data"][0]["amount"] = json!(amount_due);
    invoice
}

/// A subscription with one item of `price`.
pub(super) fn subscription_object(
    status: &str,
    customer: Option<&str>,
    price: Value,
    trial_end: Option<i64>,
    cancel_at_period_end: bool,
) -> Value {
    let mut subscription = fixture(include_str!("../fixtures/subscription.json"));
    let ended = json!((status == "canceled").then_some(1_718_600_000));
    subscription["status"] = json!(status);
    subscription["customer"] = json!(customer);
    subscription["items"]["data"][0]["price"] = price;
    subscription["trial_end"] = json!(trial_end);
    subscription["trial_start"] = json!(trial_end.map(|_| 1_718_020_000));
    subscription["cancel_at_period_end"] = json!(cancel_at_period_end);
    subscription["canceled_at"] = ended.clone();
    subscription["ended_at"] = ended;
    subscription["pause_collection"] = if status == "paused" {
        json!({"behavior": "void", "resumes_at": null})
    } else {
        Value::Null
    };
    subscription
}

pub(super) fn dispute_object(status: &str, customer_email: Option<&str>) -> Value {
    let mut dispute = fixture(include_str!("../fixtures/dispute.json"));
    dispute["status"] = json!(status);
    dispute["evidence"]["customer_email_address"] = json!(customer_email);
    dispute
}

pub(super) fn quote_object(status: &str, customer: Option<&str>) -> Value {
    let mut quote = fixture(include_str!("../fixtures/quote.json"));
    quote["status"] = json!(status);
    quote["customer"] = json!(customer);
    quote["invoice"] = json!((status == "accepted").then_some("in_1PQ5gH2eZvKYlo2CaB3cDeFg"));
    let transitions = &mut quote["status_transitions"];
    transitions["accepted_at"] = json!((status == "accepted").then_some(1_718_510_000));
    transitions["canceled_at"] = json!((status == "canceled").then_some(1_718_520_000));
    quote
}
