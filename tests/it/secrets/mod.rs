//! Secrets at rest and signing-secret expiry, end to end: what a database backup holds,
//! master-key rotation under load, a wrong key at start-up, and expired secrets refused.

mod at_rest;
mod expiry;
mod rotation;

use std::process::{Command, Stdio};

use inlet_shared::db::entities::{app_secret, integration_secret};
use inlet_shared::sealed::MasterKey;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::Value;

use crate::support::*;

/// A fresh random master key as `INLET_MASTER_KEY` takes it, and its id.
fn new_key() -> (String, String) {
    let key = MasterKey::generate();
    let hex = secrecy::ExposeSecret::expose_secret(&key.to_hex()).to_owned();
    (hex, key.id().to_string())
}

fn key_id(hex: &str) -> String {
    MasterKey::parse(hex).unwrap().id().to_string()
}

/// Every stored secret row as text, to compare byte for byte.
async fn secret_rows(db: &DatabaseConnection) -> Vec<String> {
    let signing = integration_secret::Entity::find()
        .order_by_asc(integration_secret::Column::Id)
        .all(db)
        .await
        .unwrap();
    let app = app_secret::Entity::find()
        .order_by_asc(app_secret::Column::Name)
        .all(db)
        .await
        .unwrap();
    signing
        .iter()
        .map(|r| format!("{r:?}"))
        .chain(app.iter().map(|r| format!("{r:?}")))
        .collect()
}

/// Posts a Stripe event signed with `secret`; the status and answer.
async fn signed_delivery(app: &TestApp, id: &str, secret: &str) -> (u16, Value) {
    let now = now_secs();
    let body = stripe_customer_event(
        &format!("evt_{}", random_suffix()),
        "customer.created",
        &format!("{}@example.com", random_suffix()),
        "Ada Lovelace",
        now,
    );
    let signature = stripe_signature(secret, now, &body);
    app.post_webhook(id, body.as_bytes(), &[("stripe-signature", signature)])
        .await
}

/// Runs `inlet <args>` with only `env` of the INLET_* settings; exit code, stdout, stderr.
fn inlet(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("INLET_") || k == "RUST_LOG") {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied())
        .env("INLET_LOG_FORMAT", "json");
    let out = cmd.output().expect("run inlet");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The app on `db` with these master-key settings (an empty value leaves one unset).
async fn app_with(db: &std::sync::Arc<TestDb>, backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    spawn_app(AppOptions {
        db: Some(db.clone()),
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..match backend {
            Backend::Sqlite => AppOptions::embedded_sqlite(),
            Backend::Postgres => AppOptions::embedded_postgres(),
        }
    })
    .await
}
