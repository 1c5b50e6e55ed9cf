//! The properties each Stripe event type's event carries, by name and type (what the
//! mapping in `mod.rs` sets, checked against every sample by a test).

use super::SUPPORTED_EVENTS;
use crate::properties::PropertyType::{self, Boolean, Date, Number, String as Text};

/// The properties each event type's event carries (`map` sets no others; a test checks
/// them against every sample): what `GET /api/v1/event-patterns` lists.
pub fn event_properties(event_type: &str) -> &'static [(&'static str, PropertyType)] {
    if !SUPPORTED_EVENTS.contains(&event_type) {
        return &[];
    }
    match event_type.rsplit_once('.').map_or("", |(family, _)| family) {
        "customer" => &[("customerId", Text)],
        "checkout.session" => &[
            ("checkoutSessionId", Text),
            ("amount", Number),
            ("currency", Text),
            ("mode", Text),
            ("paymentStatus", Text),
            ("status", Text),
            ("subscriptionId", Text),
            ("customerId", Text),
        ],
        "invoice" => &[
            ("invoiceId", Text),
            ("amount", Number),
            ("currency", Text),
            ("status", Text),
            ("subscriptionId", Text),
            ("customerId", Text),
            ("plan", Text),
            ("productId", Text),
            ("billingReason", Text),
        ],
        "customer.subscription" => &[
            ("subscriptionId", Text),
            ("status", Text),
            ("plan", Text),
            ("productId", Text),
            ("amount", Number),
            ("currency", Text),
            ("interval", Text),
            ("trialEnd", Date),
            ("cancelAtPeriodEnd", Boolean),
            ("customerId", Text),
        ],
        "charge.dispute" => &[
            ("disputeId", Text),
            ("amount", Number),
            ("currency", Text),
            ("reason", Text),
            ("status", Text),
            ("chargeId", Text),
        ],
        "quote" => &[
            ("quoteId", Text),
            ("amount", Number),
            ("currency", Text),
            ("status", Text),
            ("customerId", Text),
        ],
        _ => &[],
    }
}
