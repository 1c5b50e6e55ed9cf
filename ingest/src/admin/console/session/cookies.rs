//! The console's cookies, built with actix-web's cookie type: the session's and the
//! sign-in form's, with the same attributes.

use actix_web::HttpResponse;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

use super::{COOKIE, SESSION_MS};
use crate::admin::console::ConsoleError;
use crate::state::AppState;

/// A console cookie: HttpOnly, SameSite=Strict, only under `path`, lasting `max_age`
/// (zero clears it), Secure when `INLET_PUBLIC_URL` is https. Secure is decided by the
/// operator's setting, never by the request: behind a TLS-terminating proxy the request
/// arrives over plain HTTP, and a client-sent `X-Forwarded-Proto` could drop or add the
/// flag at will.
pub(super) fn console_cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: Duration,
) -> Cookie<'static> {
    cookie(
        name,
        value,
        path,
        max_age,
        state.config.public_url_is_https(),
    )
}

fn cookie(
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: Duration,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(max_age)
        .finish()
}

/// The session cookie, only under `/console`; `None` clears it.
pub(super) fn session_cookie(state: &AppState, token: Option<&str>) -> Cookie<'static> {
    let (value, max_age) = match token {
        Some(token) => (token.to_owned(), Duration::milliseconds(SESSION_MS)),
        None => (String::new(), Duration::ZERO),
    };
    console_cookie(state, COOKIE, value, "/console", max_age)
}

/// Adds a `Set-Cookie` header (refused only for a value no header can hold, which the
/// cookies made here never have).
pub(super) fn add_cookie(
    response: &mut HttpResponse,
    cookie: &Cookie<'_>,
) -> Result<(), ConsoleError> {
    response
        .add_cookie(cookie)
        .map_err(|_| ConsoleError::Internal("a console cookie cannot be written in a header"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::console::session::LOGIN_COOKIE;

    #[test]
    fn cookies_are_read_among_others_and_in_every_cookie_header() {
        use actix_web::http::header::COOKIE as HEADER;
        let req = actix_web::test::TestRequest::default()
            .insert_header((HEADER, "a=1; broken; inlet_session=abc.def; b=2"))
            .append_header((HEADER, format!("{LOGIN_COOKIE}=\"00ff\"")))
            .to_http_request();
        assert_eq!(
            req.cookie(COOKIE).as_ref().map(Cookie::value),
            Some("abc.def")
        );
        assert_eq!(
            req.cookie(LOGIN_COOKIE).as_ref().map(Cookie::value),
            Some("00ff")
        );
        assert!(req.cookie("c").is_none());
    }

    #[test]
    fn cookies_are_http_only_strict_under_their_path_and_secure_on_https() {
        let set = cookie(
            COOKIE,
            "abc.def".into(),
            "/console",
            Duration::hours(12),
            false,
        );
        assert_eq!(
            set.to_string(),
            "inlet_session=abc.def; HttpOnly; SameSite=Strict; Path=/console; Max-Age=43200"
        );
        let https = cookie(COOKIE, String::new(), "/console", Duration::ZERO, true);
        assert_eq!(
            https.to_string(),
            "inlet_session=; HttpOnly; SameSite=Strict; Secure; Path=/console; Max-Age=0"
        );
    }
}
