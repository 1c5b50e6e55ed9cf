//! A RabbitMQ vhost of each test's own, deleted when the test is done, and the broker's
//! management API the tests read queues from. A broker that is missing fails the test loudly.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{cleanup_blocking, random_suffix};

fn amqp_base() -> String {
    std::env::var("INLET_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into())
}

pub fn rabbit_management() -> String {
    std::env::var("INLET_TEST_RABBITMQ_MANAGEMENT_URL")
        .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".into())
}

/// A RabbitMQ vhost of the test's own, deleted when dropped.
pub struct TestVhost {
    pub name: String,
    pub amqp_url: String,
}

impl TestVhost {
    pub async fn new() -> Arc<Self> {
        let name = format!("inlet-test-{}", random_suffix());
        let client = reqwest::Client::new();
        let base = rabbit_management();
        let created = client
            .put(format!("{base}/api/vhosts/{name}"))
            .send()
            .await
            .expect("RabbitMQ's management API is required at 127.0.0.1:15672 (rabbitmq-plugins enable rabbitmq_management)");
        assert!(
            created.status().is_success(),
            "creating vhost: {}",
            created.status()
        );
        let granted = client
            .put(format!("{base}/api/permissions/{name}/guest"))
            .json(&json!({"configure": ".*", "write": ".*", "read": ".*"}))
            .send()
            .await
            .expect("grant vhost permissions");
        assert!(
            granted.status().is_success(),
            "granting permissions: {}",
            granted.status()
        );
        let amqp_url = format!("{}/{name}", amqp_base());
        Arc::new(Self { name, amqp_url })
    }

    /// Messages in a queue of this vhost, from the management API.
    pub async fn queue_messages(&self, queue: &str) -> u64 {
        let url = format!("{}/api/queues/{}/{queue}", rabbit_management(), self.name);
        let v: Value = reqwest::get(url)
            .await
            .expect("management api")
            .json()
            .await
            .expect("json");
        v["messages"].as_u64().unwrap_or(0)
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let url = format!("{}/api/vhosts/{}", rabbit_management(), self.name);
        cleanup_blocking(async move {
            let _ = reqwest::Client::new().delete(url).send().await;
        });
    }
}
