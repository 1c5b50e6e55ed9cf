//! A running `inlet` process seen from outside: its base URL, an API key and the few calls
//! the process tests make (wait until ready, connect Stripe, deliver a signed event, find
//! the contact it made).

use std::time::Duration;

use serde_json::{Value, json};

use super::{STRIPE_SECRET, eventually, now_secs, stripe_customer_event, stripe_signature};

/// The HTTP side of an `inlet serve` / `inlet ingest` process.
pub struct Remote {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// An API key the process accepts.
    pub key: String,
    /// The client every call goes through.
    pub client: reqwest::Client,
}

impl Remote {
    pub fn new(port: u16, key: &str) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}"),
            key: key.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Waits until `/health/ready` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        eventually(timeout, "the process ready", || async {
            let ready = self
                .client
                .get(format!("{}/health/ready", self.base))
                .send()
                .await;
            ready.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// Connects a Stripe integration signed with [`STRIPE_SECRET`]; returns its JSON.
    pub async fn create_stripe_integration(&self, name: &str) -> Value {
        self.client
            .post(format!("{}/api/v1/integrations", self.base))
            .bearer_auth(&self.key)
            .json(&json!({"provider": "stripe", "name": name, "signingSecrets": [STRIPE_SECRET]}))
            .send()
            .await
            .expect("create integration")
            .json()
            .await
            .expect("json")
    }

    /// Posts a signed Stripe `customer.created` for `email` and `name` to `endpoint_url`;
    /// returns the answer's status.
    pub async fn deliver_customer_created(
        &self,
        endpoint_url: &str,
        event_id: &str,
        email: &str,
        name: &str,
    ) -> u16 {
        let body = stripe_customer_event(event_id, "customer.created", email, name, now_secs());
        self.client
            .post(endpoint_url)
            .header(
                "Stripe-Signature",
                stripe_signature(STRIPE_SECRET, now_secs(), &body),
            )
            .body(body)
            .send()
            .await
            .expect("deliver")
            .status()
            .as_u16()
    }

    /// The contact with `email` (`null` while there is none).
    pub async fn find_contact(&self, email: &str) -> Value {
        let list: Value = self
            .client
            .get(format!("{}/api/v1/contacts/find?email={email}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("find")
            .json()
            .await
            .expect("json");
        list[0].clone()
    }

    /// Waits until the contact with `email` exists and returns it.
    pub async fn wait_for_contact(&self, email: &str, timeout: Duration) -> Value {
        eventually(timeout, "the contact from the worker", || async {
            !self.find_contact(email).await.is_null()
        })
        .await;
        self.find_contact(email).await
    }
}
