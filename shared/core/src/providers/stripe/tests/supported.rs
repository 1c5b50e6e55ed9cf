//! The mapping of every supported Stripe event type: one payload per type, shaped as Stripe
//! sends it, and the change it must give.

use serde_json::json;

use super::objects::*;
use super::*;

/// The change of an event keyed by email.
#[allow(clippy::too_many_arguments)]
fn by_email_change(
    action: ContactAction,
    address: &str,
    first: Option<&str>,
    last: Option<&str>,
    stripe_customer: Option<&str>,
    event_properties: Value,
    at: i64,
) -> Mapping {
    let mut change = ContactChange::new(action, ContactKey::Email(email(address)), at);
    change.email = Some(email(address));
    change.first_name = first.map(str::to_owned);
    change.last_name = last.map(str::to_owned);
    change.stripe_customer = stripe_customer.map(str::to_owned);
    change.event_properties = props(event_properties);
    Mapping::Contact(change)
}

/// The record-only change of an event keyed by a Stripe customer id.
fn by_customer_change(customer: &str, event_properties: Value, at: i64) -> Mapping {
    let mut change = ContactChange::new(
        ContactAction::Touch,
        ContactKey::StripeCustomer(customer.to_owned()),
        at,
    );
    change.event_properties = props(event_properties);
    Mapping::Contact(change)
}

/// (event type, body, expected mapping) for every supported event type.
fn fixtures() -> Vec<(&'static str, String, Mapping)> {
    let monthly = || {
        price_object(
            "price_1PQ0pR2eZvKYlo2C5mNkLsT1",
            Some("Pro monthly"),
            Some("pro_monthly"),
            2000,
            "month",
        )
    };
    let yearly = || {
        price_object(
            "price_1PQ0q12eZvKYlo2CxY7uVw3z",
            None,
            Some("pro_yearly"),
            20_000,
            "year",
        )
    };
    let bare = || price_object("price_1PQ0qA2eZvKYlo2Cb4gHj5Kl", None, None, 500, "week");
    let sub_props =
        |status: &str, plan: &str, amount: i64, interval: &str, trial: Value, cancel: bool| {
            json!({
                "subscriptionId": SUB, "status": status, "plan": plan, "productId": PRODUCT,
                "amount": amount, "currency": "eur", "interval": interval, "trialEnd": trial,
                "cancelAtPeriodEnd": cancel, "customerId": CUS
            })
        };
    let no_trial = |v: Value| {
        let mut m = props(v);
        m.remove("trialEnd");
        Value::Object(m)
    };
    vec![
        (
            "customer.created",
            stripe_event(
                "evt_1PQ0a12eZvKYlo2CcA1",
                "customer.created",
                1_718_030_000,
                customer_object(CUS, Some("Jenny.Rosen@Example.com"), Some("Jenny Rosen")),
            ),
            by_email_change(
                ContactAction::Upsert,
                "jenny.rosen@example.com",
                Some("Jenny"),
                Some("Rosen"),
                Some(CUS),
                json!({"customerId": CUS}),
                1_718_030_000_000,
            ),
        ),
        (
            "customer.updated",
            stripe_event(
                "evt_1PQ0a12eZvKYlo2CcU2",
                "customer.updated",
                1_718_030_100,
                customer_object(CUS, Some("jenny@rosen.example.org"), Some("Jenny")),
            ),
            by_email_change(
                ContactAction::Upsert,
                "jenny@rosen.example.org",
                Some("Jenny"),
                None,
                Some(CUS),
                json!({"customerId": CUS}),
                1_718_030_100_000,
            ),
        ),
        (
            "customer.deleted",
            stripe_event(
                "evt_1PQ0a12eZvKYlo2CcD3",
                "customer.deleted",
                1_718_700_000,
                customer_object(CUS, Some("jenny.rosen@example.com"), Some("Jenny Rosen")),
            ),
            by_email_change(
                ContactAction::Delete,
                "jenny.rosen@example.com",
                Some("Jenny"),
                Some("Rosen"),
                Some(CUS),
                json!({"customerId": CUS}),
                1_718_700_000_000,
            ),
        ),
        (
            "checkout.session.completed",
            stripe_event(
                "evt_1PQ0b12eZvKYlo2CkC1",
                "checkout.session.completed",
                1_718_040_100,
                checkout_object(
                    "cs_test_a1B2c3D4e5F6g7H8",
                    "subscription",
                    "paid",
                    2000,
                    Some(CUS),
                    Some("ada@example.com"),
                    Some("Ada King Lovelace"),
                    Some(SUB),
                ),
            ),
            by_email_change(
                ContactAction::Upsert,
                "ada@example.com",
                Some("Ada"),
                Some("King Lovelace"),
                Some(CUS),
                json!({
                    "checkoutSessionId": "cs_test_a1B2c3D4e5F6g7H8", "amount": 2000, "currency": "eur",
                    "mode": "subscription", "paymentStatus": "paid", "status": "complete",
                    "subscriptionId": SUB, "customerId": CUS
                }),
                1_718_040_100_000,
            ),
        ),
        (
            "checkout.session.async_payment_succeeded",
            stripe_event(
                "evt_1PQ0b12eZvKYlo2CkS2",
                "checkout.session.async_payment_succeeded",
                1_718_140_000,
                checkout_object(
                    "cs_test_b9Z8y7X6w5V4u3T2",
                    "payment",
                    "paid",
                    4900,
                    None,
                    Some("grace@example.com"),
                    Some("Grace Hopper"),
                    None,
                ),
            ),
            // A guest checkout: no Stripe customer, so no customer id to remember.
            by_email_change(
                ContactAction::Upsert,
                "grace@example.com",
                Some("Grace"),
                Some("Hopper"),
                None,
                json!({
                    "checkoutSessionId": "cs_test_b9Z8y7X6w5V4u3T2", "amount": 4900, "currency": "eur",
                    "mode": "payment", "paymentStatus": "paid", "status": "complete"
                }),
                1_718_140_000_000,
            ),
        ),
        (
            "checkout.session.async_payment_failed",
            stripe_event(
                "evt_1PQ0b12eZvKYlo2CkF3",
                "checkout.session.async_payment_failed",
                1_718_140_500,
                checkout_object(
                    "cs_test_c1Q2w3E4r5T6y7U8",
                    "payment",
                    "unpaid",
                    4900,
                    Some(CUS),
                    Some("jenny.rosen@example.com"),
                    None,
                    None,
                ),
            ),
            by_email_change(
                ContactAction::Upsert,
                "jenny.rosen@example.com",
                None,
                None,
                Some(CUS),
                json!({
                    "checkoutSessionId": "cs_test_c1Q2w3E4r5T6y7U8", "amount": 4900, "currency": "eur",
                    "mode": "payment", "paymentStatus": "unpaid", "status": "complete",
                    "customerId": CUS
                }),
                1_718_140_500_000,
            ),
        ),
        (
            "invoice.paid",
            stripe_event(
                "evt_1PQ0c12eZvKYlo2CiP1",
                "invoice.paid",
                1_718_050_100,
                invoice_object(
                    Some("in_1PQ2aA2eZvKYlo2C8fUu3hVw"),
                    "paid",
                    2000,
                    2000,
                    "subscription_create",
                    CUS,
                    Some("jenny.rosen@example.com"),
                    Some("Jenny Rosen"),
                ),
            ),
            by_email_change(
                ContactAction::Upsert,
                "jenny.rosen@example.com",
                Some("Jenny"),
                Some("Rosen"),
                Some(CUS),
                json!({
                    "invoiceId": "in_1PQ2aA2eZvKYlo2C8fUu3hVw", "amount": 2000, "currency": "eur",
                    "status": "paid", "subscriptionId": SUB, "customerId": CUS,
                    "plan": "Pro monthly", "productId": PRODUCT,
                    "billingReason": "subscription_create"
                }),
                1_718_050_100_000,
            ),
        ),
        (
            "invoice.payment_failed",
            stripe_event(
                "evt_1PQ0c12eZvKYlo2CiF2",
                "invoice.payment_failed",
                1_720_642_100,
                invoice_object(
                    Some("in_1PR9zZ2eZvKYlo2CqQ4rTt5u"),
                    "open",
                    2000,
                    0,
                    "subscription_cycle",
                    CUS,
                    Some("jenny.rosen@example.com"),
                    Some("Jenny Rosen"),
                ),
            ),
            by_email_change(
                ContactAction::Upsert,
                "jenny.rosen@example.com",
                Some("Jenny"),
                Some("Rosen"),
                Some(CUS),
                json!({
                    "invoiceId": "in_1PR9zZ2eZvKYlo2CqQ4rTt5u", "amount": 2000, "currency": "eur",
                    "status": "open", "subscriptionId": SUB, "customerId": CUS,
                    "plan": "Pro monthly", "productId": PRODUCT,
                    "billingReason": "subscription_cycle"
                }),
                1_720_642_100_000,
            ),
        ),
        (
            "invoice.upcoming",
            // An upcoming invoice is a preview: Stripe sends it without an id.
            stripe_event(
                "evt_1PQ0c12eZvKYlo2CiU3",
                "invoice.upcoming",
                1_720_037_300,
                invoice_object(
                    None,
                    "draft",
                    2000,
                    0,
                    "upcoming",
                    CUS,
                    Some("jenny.rosen@example.com"),
                    Some("Jenny Rosen"),
                ),
            ),
            by_email_change(
                ContactAction::Upsert,
                "jenny.rosen@example.com",
                Some("Jenny"),
                Some("Rosen"),
                Some(CUS),
                json!({
                    "amount": 2000, "currency": "eur", "status": "draft", "subscriptionId": SUB,
                    "customerId": CUS, "plan": "Pro monthly", "productId": PRODUCT,
                    "billingReason": "upcoming"
                }),
                1_720_037_300_000,
            ),
        ),
        (
            "customer.subscription.created",
            stripe_event(
                "evt_1PQ0d12eZvKYlo2CsC1",
                "customer.subscription.created",
                1_718_020_000,
                subscription_object("trialing", Some(CUS), monthly(), Some(1_718_280_000), false),
            ),
            by_customer_change(
                CUS,
                sub_props(
                    "trialing",
                    "Pro monthly",
                    2000,
                    "month",
                    json!("2024-06-13T12:00:00Z"),
                    false,
                ),
                1_718_020_000_000,
            ),
        ),
        (
            "customer.subscription.paused",
            stripe_event(
                "evt_1PQ0d12eZvKYlo2CsP2",
                "customer.subscription.paused",
                1_718_280_100,
                subscription_object("paused", Some(CUS), yearly(), Some(1_718_280_000), false),
            ),
            by_customer_change(
                CUS,
                sub_props(
                    "paused",
                    "pro_yearly",
                    20_000,
                    "year",
                    json!("2024-06-13T12:00:00Z"),
                    false,
                ),
                1_718_280_100_000,
            ),
        ),
        (
            "customer.subscription.resumed",
            stripe_event(
                "evt_1PQ0d12eZvKYlo2CsR3",
                "customer.subscription.resumed",
                1_718_366_400,
                subscription_object("active", Some(CUS), bare(), None, true),
            ),
            by_customer_change(
                CUS,
                no_trial(sub_props(
                    "active",
                    "price_1PQ0qA2eZvKYlo2Cb4gHj5Kl",
                    500,
                    "week",
                    Value::Null,
                    true,
                )),
                1_718_366_400_000,
            ),
        ),
        (
            "customer.subscription.trial_will_end",
            stripe_event(
                "evt_1PQ0d12eZvKYlo2CsT4",
                "customer.subscription.trial_will_end",
                1_718_020_100,
                subscription_object("trialing", Some(CUS), monthly(), Some(1_718_280_000), false),
            ),
            by_customer_change(
                CUS,
                sub_props(
                    "trialing",
                    "Pro monthly",
                    2000,
                    "month",
                    json!("2024-06-13T12:00:00Z"),
                    false,
                ),
                1_718_020_100_000,
            ),
        ),
        (
            "customer.subscription.deleted",
            stripe_event(
                "evt_1PQ0d12eZvKYlo2CsD5",
                "customer.subscription.deleted",
                1_718_600_000,
                subscription_object("canceled", Some(CUS), monthly(), None, false),
            ),
            by_customer_change(
                CUS,
                no_trial(sub_props(
                    "canceled",
                    "Pro monthly",
                    2000,
                    "month",
                    Value::Null,
                    false,
                )),
                1_718_600_000_000,
            ),
        ),
        (
            "charge.dispute.created",
            stripe_event(
                "evt_1PQ0e12eZvKYlo2CdC1",
                "charge.dispute.created",
                1_718_400_000,
                dispute_object("needs_response", Some("Jenny.Rosen@example.com")),
            ),
            {
                let mut change = ContactChange::new(
                    ContactAction::Touch,
                    ContactKey::Email(email("jenny.rosen@example.com")),
                    1_718_400_000_000,
                );
                change.email = Some(email("jenny.rosen@example.com"));
                change.event_properties = props(json!({
                    "disputeId": "dp_1PQ3dE2eZvKYlo2C4nHt7QfR", "amount": 4900, "currency": "eur",
                    "reason": "product_not_received", "status": "needs_response",
                    "chargeId": "ch_3PQ1xL2eZvKYlo2C0ZbS1mQe"
                }));
                Mapping::Contact(change)
            },
        ),
        (
            "charge.dispute.closed",
            stripe_event(
                "evt_1PQ0e12eZvKYlo2CdX2",
                "charge.dispute.closed",
                1_719_000_000,
                dispute_object("won", Some("jenny.rosen@example.com")),
            ),
            {
                let mut change = ContactChange::new(
                    ContactAction::Touch,
                    ContactKey::Email(email("jenny.rosen@example.com")),
                    1_719_000_000_000,
                );
                change.email = Some(email("jenny.rosen@example.com"));
                change.event_properties = props(json!({
                    "disputeId": "dp_1PQ3dE2eZvKYlo2C4nHt7QfR", "amount": 4900, "currency": "eur",
                    "reason": "product_not_received", "status": "won",
                    "chargeId": "ch_3PQ1xL2eZvKYlo2C0ZbS1mQe"
                }));
                Mapping::Contact(change)
            },
        ),
        (
            "quote.finalized",
            stripe_event(
                "evt_1PQ0f12eZvKYlo2CqF1",
                "quote.finalized",
                1_718_500_500,
                quote_object("open", Some(CUS)),
            ),
            by_customer_change(
                CUS,
                json!({
                    "quoteId": "qt_1PQ4fG2eZvKYlo2CmN0pQrSt", "amount": 120_000, "currency": "eur",
                    "status": "open", "customerId": CUS
                }),
                1_718_500_500_000,
            ),
        ),
        (
            "quote.accepted",
            stripe_event(
                "evt_1PQ0f12eZvKYlo2CqA2",
                "quote.accepted",
                1_718_510_000,
                quote_object("accepted", Some(CUS)),
            ),
            by_customer_change(
                CUS,
                json!({
                    "quoteId": "qt_1PQ4fG2eZvKYlo2CmN0pQrSt", "amount": 120_000, "currency": "eur",
                    "status": "accepted", "customerId": CUS
                }),
                1_718_510_000_000,
            ),
        ),
        (
            "quote.canceled",
            stripe_event(
                "evt_1PQ0f12eZvKYlo2CqX3",
                "quote.canceled",
                1_718_520_000,
                quote_object("canceled", Some(CUS)),
            ),
            by_customer_change(
                CUS,
                json!({
                    "quoteId": "qt_1PQ4fG2eZvKYlo2CmN0pQrSt", "amount": 120_000, "currency": "eur",
                    "status": "canceled", "customerId": CUS
                }),
                1_718_520_000_000,
            ),
        ),
    ]
}

#[test]
fn every_supported_event_type_has_a_fixture() {
    let covered: Vec<&str> = fixtures().iter().map(|(t, _, _)| *t).collect();
    assert_eq!(covered, SUPPORTED_EVENTS);
}

#[test]
fn every_supported_event_maps_as_specified() {
    for (event_type, body, expected) in fixtures() {
        let env = envelope(&Vec::new(), body.as_bytes()).unwrap();
        assert_eq!(env.event_type, event_type);
        assert!(env.idempotency_key.starts_with("evt_"), "{event_type}");
        assert_eq!(env.ignore, None);
        // The receive time is never used: Stripe's `created` orders events.
        assert_eq!(map(body.as_bytes(), 42).unwrap(), expected, "{event_type}");
    }
}
