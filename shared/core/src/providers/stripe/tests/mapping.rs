//! Stripe mapping cases beyond the one payload per type: other API versions, fallbacks,
//! events that are ignored, and bodies that are errors.

use serde_json::json;

use super::objects::*;
use super::*;

#[test]
fn newer_api_invoices_read_subscription_and_price_from_their_new_places() {
    // API 2025-03-31 and later: `parent.subscription_details` and `pricing.price_details`.
    let mut invoice = invoice_object(
        Some("in_1R0aBc2eZvKYlo2CzZ9yXw8v"),
        "paid",
        2000,
        2000,
        "subscription_cycle",
        CUS,
        Some("jenny.rosen@example.com"),
        None,
    );
    let object = invoice.as_object_mut().unwrap();
    object.remove("subscription");
    object.insert(
        "parent".into(),
        json!({
            "quote_details": null,
            "subscription_details": { "metadata": {}, "subscription": SUB },
            "type": "subscription_details"
        }),
    );
    let line = &mut object["lines"]["data"][0];
    let line = line.as_object_mut().unwrap();
    line.remove("price");
    line.insert(
        "pricing".into(),
        json!({
            "price_details": { "price": "price_1PQ0pR2eZvKYlo2C5mNkLsT1", "product": PRODUCT },
            "type": "price_details",
            "unit_amount_decimal": "2000"
        }),
    );
    let body = stripe_event(
        "evt_1R0aBd2eZvKYlo2Cn1",
        "invoice.paid",
        1_743_500_000,
        invoice,
    );
    let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
        panic!("ignored")
    };
    assert_eq!(change.event_properties["subscriptionId"], json!(SUB));
    assert_eq!(
        change.event_properties["plan"],
        json!("price_1PQ0pR2eZvKYlo2C5mNkLsT1")
    );
    assert_eq!(change.event_properties["productId"], json!(PRODUCT));
    assert_eq!(change.stripe_customer.as_deref(), Some(CUS));
}

#[test]
fn checkout_falls_back_to_the_prefilled_customer_email() {
    let mut session = checkout_object("cs_test_d1", "payment", "paid", 900, None, None, None, None);
    session["customer_email"] = json!("prefilled@example.com");
    let body = stripe_event("evt_1", "checkout.session.completed", 1, session);
    let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
        panic!("ignored")
    };
    assert_eq!(
        change.key,
        ContactKey::Email(email("prefilled@example.com"))
    );
}

#[test]
fn events_without_a_usable_email_are_ignored_with_a_reason() {
    let cases = [
        (
            "customer.deleted",
            customer_object(CUS, Some("not-an-email"), Some("Jenny")),
        ),
        (
            "checkout.session.completed",
            checkout_object(
                "cs_test_e1",
                "payment",
                "paid",
                900,
                Some(CUS),
                None,
                Some("Jenny"),
                None,
            ),
        ),
        (
            "checkout.session.async_payment_failed",
            checkout_object(
                "cs_test_e2",
                "payment",
                "unpaid",
                900,
                Some(CUS),
                Some(" "),
                None,
                None,
            ),
        ),
        (
            "invoice.paid",
            invoice_object(
                Some("in_1"),
                "paid",
                10,
                10,
                "manual",
                CUS,
                None,
                Some("Jenny"),
            ),
        ),
        (
            "invoice.upcoming",
            invoice_object(None, "draft", 10, 0, "upcoming", CUS, Some("jenny@"), None),
        ),
    ];
    for (event_type, object) in cases {
        let body = stripe_event("evt_1", event_type, 1, object);
        assert_eq!(
            map(body.as_bytes(), 0).unwrap(),
            Mapping::Ignore(format!("Ignored: {event_type} has no usable email.")),
        );
    }
}

#[test]
fn customer_id_events_without_a_customer_are_ignored_with_a_reason() {
    let cases = [
        (
            "customer.subscription.created",
            subscription_object("active", None, json!(null), None, false),
        ),
        ("quote.finalized", quote_object("open", None)),
    ];
    for (event_type, object) in cases {
        let body = stripe_event("evt_1", event_type, 1, object);
        assert_eq!(
            map(body.as_bytes(), 0).unwrap(),
            Mapping::Ignore(format!("Ignored: {event_type} carries no customer.")),
        );
    }
}

#[test]
fn disputes_fall_back_to_a_customer_id_and_are_ignored_without_either() {
    let mut dispute = dispute_object("needs_response", Some("no email"));
    let body = stripe_event("evt_1", "charge.dispute.created", 1, dispute.clone());
    assert_eq!(
        map(body.as_bytes(), 0).unwrap(),
        Mapping::Ignore("Ignored: charge.dispute.created has no usable email or customer.".into()),
    );
    dispute["customer"] = json!(CUS);
    let body = stripe_event("evt_1", "charge.dispute.created", 1, dispute);
    let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
        panic!("ignored")
    };
    assert_eq!(change.action, ContactAction::Touch);
    assert_eq!(change.key, ContactKey::StripeCustomer(CUS.into()));
    assert_eq!(
        change.event_properties["disputeId"],
        json!("dp_1PQ3dE2eZvKYlo2C4nHt7QfR")
    );
}

#[test]
fn unsupported_types_are_ignored_with_the_spec_message() {
    let body = stripe_event(
        "evt_1",
        "payment_intent.created",
        1,
        json!({"id": "pi_1", "object": "payment_intent"}),
    );
    assert_eq!(
        map(body.as_bytes(), 0).unwrap(),
        Mapping::Ignore("Ignored: payment_intent.created is not a supported Stripe event.".into())
    );
    // A prefix of a supported family is not enough.
    let body = stripe_event(
        "evt_1",
        "customer.source.created",
        1,
        json!({"id": "card_1"}),
    );
    assert_eq!(
        map(body.as_bytes(), 0).unwrap(),
        Mapping::Ignore("Ignored: customer.source.created is not a supported Stripe event.".into())
    );
}

#[test]
fn map_rejects_bodies_that_are_not_stripe_events() {
    for body in [
        "not json",
        r#"{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":"in_1"}}"#,
    ] {
        let err = map(body.as_bytes(), 0).unwrap_err();
        assert_eq!(err.provider, "Stripe");
    }
}

#[test]
fn invoice_amount_is_what_was_paid_for_paid_invoices_and_what_is_due_otherwise() {
    // A paid invoice's `amount_due` stays as billed; make the two differ to tell them apart.
    for (event_type, expected) in [("invoice.paid", 1500), ("invoice.payment_failed", 2000)] {
        let invoice = invoice_object(
            Some("in_1"),
            "open",
            2000,
            1500,
            "manual",
            CUS,
            Some("jenny.rosen@example.com"),
            None,
        );
        let body = stripe_event("evt_1", event_type, 1, invoice);
        let Mapping::Contact(change) = map(body.as_bytes(), 0).unwrap() else {
            panic!("ignored")
        };
        assert_eq!(
            change.event_properties["amount"],
            json!(expected),
            "{event_type}"
        );
    }
}

#[test]
fn an_email_of_the_wrong_type_is_an_error_not_an_ignore() {
    let body = serde_json::json!({"id": "evt_1", "object": "event", "type": "customer.created", "created": 1,
        "data": {"object": {"id": "cus_1", "object": "customer", "email": 12345}}})
    .to_string();
    let err = map(body.as_bytes(), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Body is not a Stripe event: invalid type: `data.object.email` is not a string"
    );
    let body = body.replace("12345", "null");
    assert!(matches!(
        map(body.as_bytes(), 0).unwrap(),
        Mapping::Ignore(_)
    ));
}
