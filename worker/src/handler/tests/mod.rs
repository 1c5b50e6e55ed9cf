//! The handler's tests: deliveries applied in batches through [`super::Handler`], as the
//! consumer loop hands them over, observed in the tables they write.

mod apply;
mod claim;
mod postgres;
mod retention;

use crate::test_support::{Bench, Integration, person};

/// A Stripe `customer.*` delivery about `email`, named `first last`, at `at_secs`.
fn customer(
    stripe: &Integration,
    event_type: &str,
    email: &str,
    name: (&str, &str),
    at_secs: i64,
) -> inlet_shared::queue::QueueMessage {
    stripe.delivery(
        event_type,
        &person(email, name, &customer_id(email)),
        at_secs,
    )
}

/// The Stripe customer id the tests give the person of `email`.
fn customer_id(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    format!("cus_{local}")
}

/// The contact of `email`, which must exist.
async fn contact_of(bench: &Bench, email: &str) -> inlet_shared::db::entities::contact::Model {
    bench
        .contact(email)
        .await
        .unwrap_or_else(|| panic!("no contact {email}"))
}
