//! Contact properties and suppressions in the console: declare a typed property and see
//! every one; see suppressed addresses and remove a suppression (within the same quota as
//! the API's `DELETE /api/v1/contacts/suppression`).

use actix_web::HttpResponse;
use inlet_shared::contacts::properties as declared;
use inlet_shared::domain::{Email, format_ms, now_ms};
use inlet_shared::properties::{BUILT_IN, PropertyType, check_name, label_of};
use inlet_shared::suppressions::{self, Removal};
use sea_orm::TransactionTrait;
use serde_json::json;

use super::session::{Form, Session};
use super::{ConsoleError, bad_request, redirect, render_with_status};

/// Suppressions the page shows (newest first).
const SHOWN: u64 = 500;

async fn properties_page(
    session: &Session,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let mut properties: Vec<serde_json::Value> = BUILT_IN
        .iter()
        .map(|(key, label, kind)| json!({"key": key, "label": label, "type": kind.as_str(), "built_in": true}))
        .collect();
    properties.extend(declared::list(&session.state.db).await?.into_iter().map(|(key, kind)| {
        json!({"label": label_of(&key), "key": key, "type": kind.as_str(), "built_in": false})
    }));
    let types: Vec<&str> = PropertyType::ALL.iter().map(|t| t.as_str()).collect();
    render_with_status(
        if error.is_some() {
            bad_request()
        } else {
            actix_web::http::StatusCode::OK
        },
        "properties.html",
        minijinja::context! { page => session.page("properties"), properties, types, error },
    )
}

/// `GET /console/properties`.
pub async fn properties(session: Session) -> Result<HttpResponse, ConsoleError> {
    properties_page(&session, None).await
}

/// `POST /console/properties`: declares a property (the API's rules and messages).
pub async fn create_property(form: Form) -> Result<HttpResponse, ConsoleError> {
    let name = form.get("name").unwrap_or_default().trim().to_owned();
    let Some(kind) = PropertyType::parse(form.get("type").unwrap_or_default()) else {
        return properties_page(&form.session, Some("Choose a type.".into())).await;
    };
    if let Err(e) = check_name(&name) {
        return properties_page(&form.session, Some(e.to_string())).await;
    }
    if !declared::declare(&form.session.state.db, &name, kind).await? {
        let message = format!("A contact property named {name} already exists.");
        return properties_page(&form.session, Some(message)).await;
    }
    Ok(redirect("/console/properties"))
}

async fn suppressions_page(
    session: &Session,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let db = &session.state.db;
    let rows: Vec<serde_json::Value> = suppressions::list(db, SHOWN)
        .await?
        .into_iter()
        .map(|s| json!({"email": s.email, "reason": s.reason, "since": format_ms(s.created_at)}))
        .collect();
    let quota =
        suppressions::quota(db, session.state.config.suppression_removal_limit, now_ms()).await?;
    render_with_status(
        if error.is_some() {
            bad_request()
        } else {
            actix_web::http::StatusCode::OK
        },
        "suppressions.html",
        minijinja::context! {
            page => session.page("suppressions"), suppressions => rows,
            limit => quota.limit, remaining => quota.remaining, error,
        },
    )
}

/// `GET /console/suppressions`.
pub async fn suppression_list(session: Session) -> Result<HttpResponse, ConsoleError> {
    suppressions_page(&session, None).await
}

/// `POST /console/suppressions/remove` with `email`.
pub async fn remove_suppression(form: Form) -> Result<HttpResponse, ConsoleError> {
    let Some(email) = form.get("email").and_then(Email::parse) else {
        return suppressions_page(&form.session, Some("Not a valid email address.".into())).await;
    };
    let state = &form.session.state;
    let txn = state.db.begin().await?;
    let removal = suppressions::remove(
        &txn,
        email.as_str(),
        state.config.suppression_removal_limit,
        now_ms(),
    )
    .await?;
    txn.commit().await?;
    match removal {
        Removal::Removed(_) => Ok(redirect("/console/suppressions")),
        Removal::NotSuppressed(_) => {
            suppressions_page(
                &form.session,
                Some(format!("{} is not suppressed.", email.as_str())),
            )
            .await
        }
        Removal::QuotaReached(_) => {
            let message =
                "The suppression removal quota for the last 30 days is used up.".to_owned();
            suppressions_page(&form.session, Some(message)).await
        }
    }
}
