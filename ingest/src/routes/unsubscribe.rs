//! `GET|POST /unsubscribe/{token}`: the public link every workflow email carries. It needs no
//! login: the token is the contact id signed with the installation's key. `POST` is the
//! RFC 8058 one-click request mail clients send (`List-Unsubscribe=One-Click`).

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::contact;
use inlet_shared::domain::now_ms;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::state::AppState;

fn page(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let title = minijinja::HtmlEscape(title).to_string();
    let text = minijinja::HtmlEscape(text).to_string();
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
             <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
             <h1>{title}</h1><p>{text}</p></body></html>"
        ))
}

/// Unsubscribes the contact the token names. Repeating it is harmless.
pub async fn unsubscribe(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let Some(contact_id) = state.unsubscribe.verify(&token) else {
        return page(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This unsubscribe link is not valid. Use the link from the most recent email.",
        );
    };
    let result = contact::Entity::update_many()
        .col_expr(contact::Column::Subscribed, Expr::value(false))
        .col_expr(contact::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(contact::Column::Id.eq(contact_id.as_str()))
        .exec(&state.db)
        .await;
    match result {
        Ok(r) => {
            if r.rows_affected > 0 {
                tracing::info!(contact = %contact_id, "Contact unsubscribed through their link.");
            }
            page(
                StatusCode::OK,
                "You are unsubscribed",
                "You will not receive these emails any more.",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "Could not unsubscribe a contact.");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "We could not unsubscribe you just now. Please try the link again in a minute.",
            )
        }
    }
}
