//! `/unsubscribe/{token}`: the public link every workflow email carries. It needs no login:
//! the token is the contact id signed with the installation's key.
//!
//! `GET` only shows a page asking to confirm, and changes nothing: mail scanners and link
//! previews open every link in a message. `POST` unsubscribes: the page's button, or the
//! RFC 8058 one-click request mail clients send (`List-Unsubscribe=One-Click`), whose body
//! says nothing more than the method does, so it is not read.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::contact;
use sea_orm::{EntityTrait, QuerySelect};

use crate::state::AppState;

/// The confirmation form: it posts to the page's own address, with the one-click body.
const FORM: &str = "<form method=\"post\">\
     <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
     <button type=\"submit\" style=\"font:inherit;padding:.5rem 1.25rem;cursor:pointer\">\
     Unsubscribe</button></form>";

fn page(status: StatusCode, title: &str, text: &str, form: bool) -> HttpResponse {
    let title = minijinja::HtmlEscape(title).to_string();
    let text = minijinja::HtmlEscape(text).to_string();
    let form = if form { FORM } else { "" };
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
             <h1>{title}</h1><p>{text}</p>{form}</body></html>"
        ))
}

fn not_valid() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "This unsubscribe link is not valid. Use the link from the most recent email.",
        false,
    )
}

fn unsubscribed() -> HttpResponse {
    page(
        StatusCode::OK,
        "You are unsubscribed",
        "You will not receive these emails any more.",
        false,
    )
}

/// Asks to confirm; says so instead when the contact is unsubscribed already.
pub async fn confirm(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let Some(contact_id) = state.unsubscribe.verify(&token) else {
        return not_valid();
    };
    let subscribed = contact::Entity::find_by_id(contact_id)
        .select_only()
        .column(contact::Column::Subscribed)
        .into_tuple::<bool>()
        .one(&state.db)
        .await;
    if let Err(e) = &subscribed {
        tracing::warn!(error = %e, "Could not read a contact for its unsubscribe page.");
    }
    match subscribed {
        Ok(Some(false)) => unsubscribed(),
        // A contact deleted since, or a database that did not answer: the button still does
        // what it says, so ask.
        _ => page(
            StatusCode::OK,
            "Unsubscribe?",
            "Confirm and you will not receive these emails any more.",
            true,
        ),
    }
}

/// Unsubscribes the contact the token names. Repeating it is harmless.
pub async fn unsubscribe(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let Some(contact_id) = state.unsubscribe.verify(&token) else {
        return not_valid();
    };
    match inlet_shared::contacts::unsubscribe(&state.db, &contact_id).await {
        Ok(changed) => {
            if changed {
                tracing::info!(contact = %contact_id, "Contact unsubscribed through their link.");
            }
            unsubscribed()
        }
        Err(e) => {
            tracing::error!(error = %e, "Could not unsubscribe a contact.");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "We could not unsubscribe you just now. Please try again in a minute.",
                true,
            )
        }
    }
}
