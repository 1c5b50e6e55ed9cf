//! `inlet send-test-event`: signs a realistic sample of a provider's event with the
//! integration's own secret and posts it to the running server, like `stripe trigger`.

use anyhow::{Context, bail};
use inlet_shared::config::Config;
use inlet_shared::db::entities::{integration, integration_secret};
use inlet_shared::domain::now_ms;
use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::{Person, sample, sign};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// What the server answered.
pub struct Sent {
    /// HTTP status.
    pub status: u16,
    /// Response body (the JSON `{success, message, id}`).
    pub body: String,
}

/// The base URL the CLI reaches the server at: `url` if given, else the listen address
/// (a wildcard address is reached through loopback).
pub fn local_base(config: &Config, url: Option<&str>) -> String {
    if let Some(url) = url {
        return url.trim_end_matches('/').to_owned();
    }
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

fn person(provider: Provider, email: &str) -> Person<'_> {
    let id = match provider {
        Provider::Stripe => "cus_TestInlet0001",
        Provider::Clerk => "user_2TestInletUser0001",
        Provider::Polar => "7b6f1f6e-2c44-4a39-9a55-1b2f0d6f6a01",
        Provider::Supabase => "0d4f7a52-95a1-4d7c-9d9b-3f4a2b1c0e11",
    };
    Person {
        email,
        first_name: "Jenny",
        last_name: "Rosen",
        id,
    }
}

/// Sends one sample `event_type` to `integration_id` at `base`.
pub async fn send(
    config: &Config,
    integration_id: &str,
    event_type: &str,
    email: &str,
    base: &str,
) -> anyhow::Result<Sent> {
    let db = crate::connect_database(config).await?;
    let row = integration::Entity::find_by_id(integration_id.to_owned())
        .one(&db)
        .await?
        .with_context(|| format!("no integration {integration_id}"))?;
    let provider = Provider::parse(&row.provider)
        .with_context(|| format!("unknown provider {}", row.provider))?;
    if !provider.supports(event_type) {
        bail!(
            "{event_type} is not a supported {} event; choose one of: {}",
            provider.display_name(),
            provider.supported_events().join(", ")
        );
    }
    // The newest secret: the one the platform signs with after a rotation.
    let secret = integration_secret::Entity::find()
        .filter(integration_secret::Column::IntegrationId.eq(integration_id))
        .order_by_desc(integration_secret::Column::Id)
        .one(&db)
        .await?
        .context("the integration has no secret")?;
    let now = now_ms() / 1000;
    let body = sample(provider, event_type, &person(provider, email), now)
        .context("no sample for this event")?;
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let headers = sign(provider, &secret.secret, &body, now, &message_id)
        .context("cannot sign with this secret")?;
    let mut request = reqwest::Client::new()
        .post(format!("{base}/webhooks/{integration_id}"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach Inlet at {base}; is it running?"))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(Sent { status, body })
}
