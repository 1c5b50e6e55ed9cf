//! Integrations: per-event settings (SPEC §2), the in-memory cache that keeps the webhook
//! hot path free of database queries, and the signing secrets' writer ([`secrets`]).

pub mod secrets;

pub use secrets::prune_expired_secrets;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, FromQueryResult, QuerySelect};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::db::entities::integration;
use crate::providers::{Provider, SigningKey};
use crate::sealed::{Binding, Vault};

fn yes() -> bool {
    true
}

/// What a deletion event does to the contact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    /// Keep the contact, set `subscribed = false`.
    #[default]
    Unsubscribe,
    /// Remove the contact and its memberships.
    Delete,
}

/// Settings of one event type of one integration (SPEC §2). Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventSettings {
    /// Process this event type at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Copy first/last name from the event onto the contact.
    #[serde(default = "yes")]
    pub update_names: bool,
    /// User group given to contacts this event creates.
    #[serde(default)]
    pub user_group: Option<String>,
    /// Lists to subscribe (`true`) or remove (`false`) on create/update.
    #[serde(default)]
    pub mailing_lists: BTreeMap<String, bool>,
    /// Deletion events only: unsubscribe or delete.
    #[serde(default)]
    pub on_delete: OnDelete,
    /// Record the platform event on the contact.
    #[serde(default = "yes")]
    pub trigger_event: bool,
    /// An additional custom event to record.
    #[serde(default)]
    pub custom_event: Option<String>,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            update_names: true,
            user_group: None,
            mailing_lists: BTreeMap::new(),
            on_delete: OnDelete::Unsubscribe,
            trigger_event: true,
            custom_event: None,
        }
    }
}

/// Settings per event type, as stored (only the types a user set; the rest are defaults).
pub type EventSettingsMap = BTreeMap<String, EventSettings>;

/// Checks user-supplied settings: every type must be supported by the provider and every
/// field known. The error names what is wrong.
pub fn parse_event_settings(
    provider: Provider,
    raw: &serde_json::Map<String, serde_json::Value>,
) -> Result<EventSettingsMap, String> {
    let unknown: Vec<&str> = raw
        .keys()
        .map(String::as_str)
        .filter(|t| !provider.supports(t))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "Unknown {} event type(s): {}. Supported: {}.",
            provider.display_name(),
            unknown.join(", "),
            provider.supported_events().join(", ")
        ));
    }
    let mut out = EventSettingsMap::new();
    for (event_type, value) in raw {
        let settings: EventSettings = serde_json::from_value(value.clone())
            .map_err(|e| format!("Invalid settings for {event_type}: {e}"))?;
        if let Some(name) = &settings.custom_event
            && (name.is_empty() || name.contains(':'))
        {
            return Err(format!(
                "Invalid settings for {event_type}: customEvent must be non-empty and may not contain ':'"
            ));
        }
        out.insert(event_type.clone(), settings);
    }
    Ok(out)
}

/// Every supported event type with its effective settings (defaults filled in).
pub fn effective_settings(provider: Provider, stored: &EventSettingsMap) -> EventSettingsMap {
    provider
        .supported_events()
        .iter()
        .map(|t| ((*t).to_owned(), stored.get(*t).cloned().unwrap_or_default()))
        .collect()
}

/// An integration as the hot path needs it: decoded keys and settings.
#[derive(Debug)]
pub struct IntegrationRuntime {
    /// The integration's id.
    pub id: String,
    /// Its provider.
    pub provider: Provider,
    /// Its name.
    pub name: String,
    /// Decoded signing keys, those that expire soonest first and those that never last:
    /// the keys still valid at any time are a suffix ([`Self::keys_at`]).
    keys: Vec<SigningKey>,
    /// Each key's expiry (epoch ms), in the same order.
    expiries: Vec<Option<i64>>,
    /// Stored per-event settings.
    pub events: EventSettingsMap,
}

impl IntegrationRuntime {
    /// An integration with these keys, each with its expiry (if any).
    pub fn new(
        id: String,
        provider: Provider,
        name: String,
        mut keys: Vec<(SigningKey, Option<i64>)>,
        events: EventSettingsMap,
    ) -> Self {
        keys.sort_by_key(|(_, expiry)| (expiry.is_none(), *expiry));
        let (keys, expiries) = keys.into_iter().unzip();
        Self {
            id,
            provider,
            name,
            keys,
            expiries,
            events,
        }
    }

    /// The keys that verify at `now_ms`: an expired secret stops verifying at its expiry,
    /// whenever the cache was loaded. No allocation (the hot path's call).
    pub fn keys_at(&self, now_ms: i64) -> &[SigningKey] {
        let expired = self
            .expiries
            .partition_point(|expiry| secrets::is_expired(*expiry, now_ms));
        self.keys.get(expired..).unwrap_or_default()
    }

    /// The effective settings of one event type.
    pub fn settings(&self, event_type: &str) -> EventSettings {
        self.events.get(event_type).cloned().unwrap_or_default()
    }

    /// Whether an event type is turned on (the hot path's check; no allocation).
    pub fn enabled(&self, event_type: &str) -> bool {
        self.events.get(event_type).is_none_or(|s| s.enabled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Fingerprint {
    count: i64,
    max_updated_at: Option<i64>,
}

#[derive(FromQueryResult)]
struct FingerprintRow {
    count: i64,
    max_updated_at: Option<i64>,
}

/// All integrations in memory, swapped atomically when they change.
#[derive(Clone)]
pub struct IntegrationCache {
    db: DatabaseConnection,
    vault: Vault,
    map: Arc<ArcSwap<HashMap<String, Arc<IntegrationRuntime>>>>,
    seen: Arc<tokio::sync::Mutex<Fingerprint>>,
}

impl IntegrationCache {
    /// Loads every integration, opening their secrets with `vault`.
    pub async fn load(db: DatabaseConnection, vault: Vault) -> Result<Self, DbErr> {
        let cache = Self {
            db,
            vault,
            map: Arc::new(ArcSwap::from_pointee(HashMap::new())),
            seen: Arc::new(tokio::sync::Mutex::new(Fingerprint::default())),
        };
        cache.reload().await?;
        Ok(cache)
    }

    /// The integration with this id, if any. No I/O.
    pub fn get(&self, id: &str) -> Option<Arc<IntegrationRuntime>> {
        self.map.load().get(id).cloned()
    }

    /// Reloads everything now (after this process changed an integration).
    pub async fn reload(&self) -> Result<(), DbErr> {
        let mut seen = self.seen.lock().await;
        let fingerprint = self.fingerprint().await?;
        self.load_all().await?;
        *seen = fingerprint;
        Ok(())
    }

    /// Reloads when another process changed integrations (one cheap aggregate query).
    pub async fn refresh_if_changed(&self) -> Result<bool, DbErr> {
        let mut seen = self.seen.lock().await;
        let fingerprint = self.fingerprint().await?;
        if fingerprint == *seen {
            return Ok(false);
        }
        self.load_all().await?;
        *seen = fingerprint;
        Ok(true)
    }

    /// Runs [`Self::refresh_if_changed`] every `every` until `shutdown`.
    pub fn spawn_refresher(&self, every: Duration, shutdown: CancellationToken) {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(e) = cache.refresh_if_changed().await {
                            tracing::warn!(error = %e, "Could not refresh integrations; keeping the cached ones.");
                        }
                    }
                }
            }
        });
    }

    async fn fingerprint(&self) -> Result<Fingerprint, DbErr> {
        let row = integration::Entity::find()
            .select_only()
            .expr_as(Expr::col(integration::Column::Id).count(), "count")
            .expr_as(
                Expr::col(integration::Column::UpdatedAt).max(),
                "max_updated_at",
            )
            .into_model::<FingerprintRow>()
            .one(&self.db)
            .await?;
        Ok(row
            .map(|r| Fingerprint {
                count: r.count,
                max_updated_at: r.max_updated_at,
            })
            .unwrap_or_default())
    }

    async fn load_all(&self) -> Result<(), DbErr> {
        let integrations = integration::Entity::find().all(&self.db).await?;
        let secrets = secrets::all_rows(&self.db).await?;
        let mut keys: HashMap<String, Vec<(SigningKey, Option<i64>)>> = HashMap::new();
        let providers: HashMap<&str, Option<Provider>> = integrations
            .iter()
            .map(|i| (i.id.as_str(), Provider::parse(&i.provider)))
            .collect();
        for secret in &secrets {
            let Some(Some(provider)) = providers.get(secret.integration_id.as_str()) else {
                continue;
            };
            let opened = self.vault.open(
                Binding::signing(&secret.integration_id),
                &secret.secret,
                secret.key_id.as_deref(),
            );
            let plain = match opened {
                Ok(plain) => plain,
                Err(e) => {
                    tracing::warn!(integration = %secret.integration_id, error = %e, "Skipping a signing secret that does not open.");
                    continue;
                }
            };
            match provider.signing_key(plain.expose_secret()) {
                Ok(key) => keys
                    .entry(secret.integration_id.clone())
                    .or_default()
                    .push((key, secret.expires_at)),
                Err(_) => {
                    tracing::warn!(integration = %secret.integration_id, "Skipping an unusable signing secret.")
                }
            }
        }
        let mut map = HashMap::with_capacity(integrations.len());
        for row in integrations {
            let Some(provider) = Provider::parse(&row.provider) else {
                tracing::warn!(integration = %row.id, provider = %row.provider, "Skipping integration of unknown provider.");
                continue;
            };
            let events: EventSettingsMap = serde_json::from_str(&row.events).unwrap_or_else(|e| {
                tracing::warn!(integration = %row.id, error = %e, "Unreadable event settings; using defaults.");
                EventSettingsMap::new()
            });
            let runtime = IntegrationRuntime::new(
                row.id.clone(),
                provider,
                row.name,
                keys.remove(&row.id).unwrap_or_default(),
                events,
            );
            map.insert(row.id, Arc::new(runtime));
        }
        self.map.store(Arc::new(map));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn settings_default_to_spec_values() {
        let s: EventSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, EventSettings::default());
        assert!(s.enabled && s.update_names && s.trigger_event);
        assert_eq!(s.on_delete, OnDelete::Unsubscribe);
    }

    #[test]
    fn unknown_event_types_and_fields_are_named() {
        let err = parse_event_settings(
            Provider::Stripe,
            &obj(serde_json::json!({"payment_intent.created": {}})),
        )
        .unwrap_err();
        assert!(err.contains("payment_intent.created"), "{err}");
        let err = parse_event_settings(
            Provider::Stripe,
            &obj(serde_json::json!({"customer.created": {"enabeld": false}})),
        )
        .unwrap_err();
        assert!(err.contains("enabeld"), "{err}");
        let err = parse_event_settings(
            Provider::Stripe,
            &obj(serde_json::json!({"customer.created": {"customEvent": "a:b"}})),
        )
        .unwrap_err();
        assert!(err.contains("customEvent"), "{err}");
    }

    #[test]
    fn effective_settings_cover_every_supported_type() {
        let stored = parse_event_settings(
            Provider::Stripe,
            &obj(serde_json::json!({"customer.updated": {"enabled": false}})),
        )
        .unwrap();
        let all = effective_settings(Provider::Stripe, &stored);
        assert_eq!(all.len(), Provider::Stripe.supported_events().len());
        assert!(!all["customer.updated"].enabled);
        assert!(all["customer.created"].enabled);
    }
}
