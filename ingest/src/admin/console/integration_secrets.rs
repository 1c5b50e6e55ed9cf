//! An integration's signing secrets in the console: adding one (optionally expiring the old
//! ones, as Stripe's roll), setting an expiry, deleting (their list is `secret_ages`). The
//! logic is the API's ([`crate::admin::api::integrations`]).

use actix_web::HttpResponse;
use actix_web::web;
use inlet_shared::domain::now_ms;

use super::integrations::{integration_page, secret_once};
use super::session::Form;
use super::{ConsoleError, redirect};
use crate::admin::api::integrations as api;
use crate::error::ApiError;

/// The expiry a form's choice names, from now: `1h`, `24h`, `7d`; `never` (or nothing)
/// for none. Anything else is refused.
fn expiry_in(choice: Option<&str>, now: i64) -> Result<Option<i64>, ConsoleError> {
    const HOUR: i64 = 3_600_000;
    let after = match choice.unwrap_or("never") {
        "never" | "" => return Ok(None),
        "1h" => HOUR,
        "24h" => 24 * HOUR,
        "7d" => 7 * 24 * HOUR,
        _ => return Err(ConsoleError::BadRequest("Choose when it expires.".into())),
    };
    Ok(Some(now + after))
}

/// `POST /console/integrations/{id}/secrets`: adds a secret (Supabase: generates one and
/// shows its header once); `previous_expires` expires the stored ones.
pub async fn add_secret(form: Form, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let session = &form.session;
    let secret = form.get("secret").map(str::to_owned);
    let previous = expiry_in(form.get("previous_expires"), now_ms())?;
    match api::add_integration_secret(&session.state, &path, secret, previous).await {
        Ok((_, Some(header))) => {
            let view = api::get_integration(&session.state, &path).await?;
            secret_once(session, "New secret header", &header, &view)
        }
        Ok((_, None)) => Ok(redirect(&format!(
            "/console/integrations/{}?done=secret-added",
            path.as_str()
        ))),
        Err(ApiError::BadRequest(message)) => {
            integration_page(session, &path, None, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/integrations/{id}/secrets/{n}/expiry`: sets when the n-th secret stops
/// verifying (`in`: `1h`, `24h`, `7d` or `never`).
pub async fn set_expiry(
    form: Form,
    path: web::Path<(String, usize)>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, n) = path.into_inner();
    let expires = expiry_in(form.get("in"), now_ms())?;
    match api::set_secret_expiry(&form.session.state, &id, n, expires).await {
        Ok(_) => Ok(redirect(&format!(
            "/console/integrations/{id}?done=secret-expiry"
        ))),
        Err(ApiError::BadRequest(message)) => {
            integration_page(&form.session, &id, None, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/integrations/{id}/secrets/{n}/delete`.
pub async fn delete_secret(
    form: Form,
    path: web::Path<(String, usize)>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, n) = path.into_inner();
    match api::delete_integration_secret(&form.session.state, &id, n).await {
        Ok(_) => Ok(redirect(&format!(
            "/console/integrations/{id}?done=secret-deleted"
        ))),
        Err(ApiError::BadRequest(message)) => {
            integration_page(&form.session, &id, None, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_choices_are_a_fixed_set() {
        assert_eq!(expiry_in(None, 5).unwrap(), None);
        assert_eq!(expiry_in(Some("never"), 5).unwrap(), None);
        assert_eq!(expiry_in(Some("24h"), 5).unwrap(), Some(5 + 86_400_000));
        assert!(expiry_in(Some("3y"), 5).is_err());
    }
}
