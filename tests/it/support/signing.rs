//! Deliveries signed as the platforms sign them: the test's Stripe secret, Stripe-shaped
//! events, and the platform samples of `providers::samples` posted to a running app.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{TestApp, random_suffix};

pub const STRIPE_SECRET: &str = "whsec_test_integration_secret_0123456789";

pub fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("secs")
}

pub fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A Stripe customer event shaped as Stripe sends it.
pub fn stripe_customer_event(
    event_id: &str,
    kind: &str,
    email: &str,
    name: &str,
    created: i64,
) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": "req_test", "idempotency_key": null},
        "type": kind,
        "data": {"object": {
            "id": "cus_TestCustomer01",
            "object": "customer",
            "address": null,
            "balance": 0,
            "created": created,
            "currency": "usd",
            "email": email,
            "name": name,
            "phone": null,
            "metadata": {"plan": "pro"},
            "livemode": false
        }}
    })
    .to_string()
}

impl TestApp {
    /// Posts a body signed now with the test secret.
    pub async fn send_stripe(&self, integration_id: &str, body: &str) -> (u16, Value) {
        let header = stripe_signature(STRIPE_SECRET, now_secs(), body);
        self.post_webhook(
            integration_id,
            body.as_bytes(),
            &[("Stripe-Signature", header)],
        )
        .await
    }

    /// Signs a platform sample (see `providers::samples`) with `secret` at `now` and posts it.
    pub async fn send_sample(
        &self,
        integration_id: &str,
        provider: inlet_shared::providers::Provider,
        secret: &str,
        event_type: &str,
        person: &inlet_shared::providers::samples::Person<'_>,
        now: i64,
    ) -> (u16, Value) {
        use inlet_shared::providers::samples;
        let body = samples::sample(provider, event_type, person, now).expect("sample exists");
        let message_id = format!("msg_{}", random_suffix());
        let headers = samples::sign(provider, secret, &body, now, &message_id).expect("sign");
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.post_webhook(integration_id, body.as_bytes(), &headers)
            .await
    }
}
