//! Console sign-in: an API key buys a signed session cookie; every form carries a CSRF
//! token derived from that session.
//!
//! The cookie holds `base64(api key id "." expiry ms "." nonce) "." base64(HMAC-SHA256)`
//! under a key generated once per installation (the `console_session` row of
//! `app_secrets`, sealed); the random nonce makes every sign-in's token (and so its CSRF token) its
//! own, and names the session's row in `console_sessions`, which signing out deletes.
//! Nothing in the cookie is secret, and every request re-reads the API key, so revoking the
//! key signs its sessions out at once.

use std::sync::Arc;

use actix_web::cookie::{Cookie, time::Duration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use inlet_shared::db::entities::{api_key, console_session};
use inlet_shared::domain::now_ms;
use inlet_shared::sealed::{Vault, VaultError, app_secret};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::{ConsoleError, Page, render_with_status};
use crate::error::ApiError;
use crate::state::AppState;
use cookies::{add_cookie, console_cookie, session_cookie};

mod cookies;

/// Name of the session cookie.
pub const COOKIE: &str = "inlet_session";
/// Name of the CSRF field in every form.
pub const CSRF_FIELD: &str = "_csrf";
/// How long a session lasts.
const SESSION_MS: i64 = 12 * 60 * 60 * 1000;
/// Name of the signing key in `app_secrets`.
const SECRET_NAME: &str = "console_session";

/// The key that signs session cookies (redacted in `Debug`).
pub struct SessionKey(SecretString);

impl SessionKey {
    /// The stored key (sealed by `vault`), created if this is the first process to need it.
    pub async fn load_or_create<C: ConnectionTrait>(
        db: &C,
        vault: &Vault,
    ) -> Result<Self, VaultError> {
        Ok(Self(app_secret(db, vault, SECRET_NAME).await?))
    }

    fn mac(&self, purpose: &[u8], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(purpose);
        mac.update(data);
        mac
    }

    /// A session token for `key_id` and the session `nonce`, valid until `expires_ms`.
    pub fn issue(&self, key_id: &str, nonce: &str, expires_ms: i64) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!("{key_id}.{expires_ms}.{nonce}"));
        let tag = self
            .mac(b"session:", payload.as_bytes())
            .finalize()
            .into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The API key id and session nonce of a token whose MAC verifies (in constant time)
    /// and that has not expired at `now_ms`.
    pub fn verify(&self, token: &str, now_ms: i64) -> Option<(String, String)> {
        let (payload, tag) = token.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(b"session:", payload.as_bytes())
            .verify_slice(&tag)
            .ok()?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let (rest, nonce) = payload.rsplit_once('.')?;
        let (key_id, expires) = rest.rsplit_once('.')?;
        (expires.parse::<i64>().ok()? > now_ms).then(|| (key_id.to_owned(), nonce.to_owned()))
    }

    /// The CSRF token of a session: a MAC of the session token, so it cannot be made
    /// without the server key and changes with every sign-in.
    pub fn csrf(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"csrf:", token.as_bytes()).finalize().into_bytes())
    }
}

impl SessionKey {
    /// The sign-in form's CSRF token for the browser whose login cookie holds `nonce`.
    pub fn login_csrf(&self, nonce: &str) -> String {
        URL_SAFE_NO_PAD.encode(
            self.mac(b"login:", nonce.as_bytes())
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `given` is [`SessionKey::login_csrf`] of `nonce` (compared in constant time).
    pub fn login_csrf_matches(&self, nonce: &str, given: &str) -> bool {
        URL_SAFE_NO_PAD.decode(given).is_ok_and(|tag| {
            self.mac(b"login:", nonce.as_bytes())
                .verify_slice(&tag)
                .is_ok()
        })
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// The session key of this worker, loaded on first use.
#[derive(Default)]
pub struct KeyCell(tokio::sync::OnceCell<Arc<SessionKey>>);

async fn session_key(
    req: &HttpRequest,
) -> Result<(web::Data<AppState>, Arc<SessionKey>), ConsoleError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or(ConsoleError::Internal("application state missing"))?;
    let cell = req
        .app_data::<web::Data<KeyCell>>()
        .cloned()
        .ok_or(ConsoleError::Internal("console key cell missing"))?;
    let key = cell
        .0
        .get_or_try_init(|| async {
            SessionKey::load_or_create(&state.db, &state.vault)
                .await
                .map(Arc::new)
        })
        .await
        .map_err(ApiError::from)?
        .clone();
    Ok((state, key))
}

/// A signed-in operator.
pub struct Session {
    /// The session's row in `console_sessions` (the nonce in its cookie).
    id: String,
    token: String,
    key: Arc<SessionKey>,
    /// The name of the API key the session was opened with.
    pub key_name: String,
    /// Shared state.
    pub state: web::Data<AppState>,
}

impl Session {
    /// The session of `req`, if its cookie verifies and its API key is still active.
    async fn of(req: &HttpRequest) -> Result<Option<Self>, ConsoleError> {
        let (state, key) = session_key(req).await?;
        let Some(cookie) = req.cookie(COOKIE) else {
            return Ok(None);
        };
        let token = cookie.value();
        let now = now_ms();
        let Some((key_id, id)) = key.verify(token, now) else {
            return Ok(None);
        };
        let open = console_session::Entity::find_by_id(id.clone())
            .filter(console_session::Column::ApiKeyId.eq(key_id.as_str()))
            .filter(console_session::Column::ExpiresAt.gt(now))
            .one(&state.db)
            .await?;
        if open.is_none() {
            return Ok(None); // signed out
        }
        let active = api_key::Entity::find_by_id(key_id)
            .filter(api_key::Column::RevokedAt.is_null())
            .one(&state.db)
            .await?;
        Ok(active.map(|k| Self {
            id,
            token: token.to_owned(),
            key,
            key_name: k.name,
            state,
        }))
    }

    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        self.key.csrf(&self.token)
    }

    /// Whether `given` is this session's CSRF token (compared in constant time).
    fn csrf_matches(&self, given: &str) -> bool {
        URL_SAFE_NO_PAD.decode(given).is_ok_and(|tag| {
            self.key
                .mac(b"csrf:", self.token.as_bytes())
                .verify_slice(&tag)
                .is_ok()
        })
    }

    /// What every page's layout needs: the CSRF token, the key's name, the active section.
    pub fn page(&self, section: &'static str) -> Page {
        Page {
            csrf: self.csrf(),
            key_name: self.key_name.clone(),
            section,
        }
    }
}

impl FromRequest for Session {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Session::of(&req).await?.ok_or(ConsoleError::SignIn) })
    }
}

/// A posted form whose CSRF token matched its session. Every state-changing console route
/// takes one, so none runs without the token.
pub struct Form {
    /// The session that posted it.
    pub session: Session,
    fields: Vec<(String, String)>,
}

impl Form {
    /// The first value of field `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every value of field `name` (repeated fields, multiple selects).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether checkbox `name` was checked.
    pub fn checked(&self, name: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == name)
    }
}

impl FromRequest for Form {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Form::<Vec<(String, String)>>::from_request(&req, payload);
        Box::pin(async move {
            let session = Session::of(&req).await?.ok_or(ConsoleError::SignIn)?;
            let fields = body
                .await
                .map_err(|_| ConsoleError::BadRequest("The form could not be read.".into()))?
                .into_inner();
            let token = fields
                .iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            if !session.csrf_matches(token) {
                tracing::warn!("Refused a console form without a valid CSRF token.");
                return Err(ConsoleError::Csrf);
            }
            Ok(Self { session, fields })
        })
    }
}

/// Name of the cookie that ties the sign-in form to the browser that loaded it.
pub const LOGIN_COOKIE: &str = "inlet_login";

/// The sign-in form's nonce from its cookie, or a new one (with the cookie to set).
fn login_nonce(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    if let Some(cookie) = req.cookie(LOGIN_COOKIE)
        && let nonce = cookie.value()
        && nonce.len() == 32
        && nonce.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return (nonce.to_owned(), None);
    }
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let nonce = hex::encode(bytes);
    let cookie = console_cookie(
        state,
        LOGIN_COOKIE,
        nonce.clone(),
        "/console/login",
        Duration::days(1),
    );
    (nonce, Some(cookie))
}

/// Renders the sign-in page with its CSRF token (a MAC of the browser's nonce).
fn login_form(
    req: &HttpRequest,
    state: &AppState,
    key: &SessionKey,
    status: actix_web::http::StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let (nonce, cookie) = login_nonce(req, state);
    let mut response = render_with_status(
        status,
        "login.html",
        minijinja::context! { csrf => key.login_csrf(&nonce), error },
    )?;
    if let Some(cookie) = cookie {
        add_cookie(&mut response, &cookie)?;
    }
    Ok(response)
}

/// `GET /console/login`.
pub async fn login_page(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    if Session::of(&req).await?.is_some() {
        return Ok(super::redirect("/console"));
    }
    let (state, key) = session_key(&req).await?;
    login_form(&req, &state, &key, actix_web::http::StatusCode::OK, None)
}

/// The login form.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    api_key: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /console/login`: an active API key opens a session; anything else is 401. The
/// form must carry the token of the sign-in page this browser loaded (no login CSRF).
pub async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (state, key) = session_key(&req).await?;
    let nonce = req.cookie(LOGIN_COOKIE);
    let nonce = nonce.as_ref().map(Cookie::value).unwrap_or_default();
    if nonce.is_empty() || !key.login_csrf_matches(nonce, &form.csrf) {
        tracing::warn!("Refused a console sign-in without a valid CSRF token.");
        return Err(ConsoleError::Csrf);
    }
    let given = form.api_key.trim();
    let found = if given.is_empty() {
        None
    } else {
        inlet_shared::apikeys::verify(&state.db, given).await?
    };
    let Some(api_key) = found else {
        tracing::info!("Console sign-in refused: unknown or revoked API key.");
        return login_form(
            &req,
            &state,
            &key,
            actix_web::http::StatusCode::UNAUTHORIZED,
            Some("That API key is not valid (or has been revoked)."),
        );
    };
    let now = now_ms();
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
    let nonce = hex::encode(nonce);
    // Sessions that ran out are removed as new ones start.
    console_session::Entity::delete_many()
        .filter(console_session::Column::ExpiresAt.lte(now))
        .exec(&state.db)
        .await?;
    console_session::Entity::insert(console_session::ActiveModel {
        id: Set(nonce.clone()),
        api_key_id: Set(api_key.id.clone()),
        created_at: Set(now),
        expires_at: Set(now + SESSION_MS),
    })
    .exec_without_returning(&state.db)
    .await?;
    let token = key.issue(&api_key.id, &nonce, now + SESSION_MS);
    tracing::info!(api_key = %api_key.id, "Console sign-in.");
    let mut response = super::redirect("/console");
    add_cookie(&mut response, &session_cookie(&state, Some(&token)))?;
    Ok(response)
}

/// `POST /console/logout`: ends the session (its cookie no longer works, wherever it is)
/// and clears the cookie.
pub async fn logout(form: Form) -> Result<HttpResponse, ConsoleError> {
    console_session::Entity::delete_by_id(form.session.id.clone())
        .exec(&form.session.state.db)
        .await?;
    let mut response = super::redirect("/console/login");
    add_cookie(&mut response, &session_cookie(&form.session.state, None))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_verify_only_unaltered_and_unexpired() {
        let key = SessionKey(SecretString::from("k".repeat(32)));
        let token = key.issue("key_1", "00ff", 2_000);
        assert_eq!(
            key.verify(&token, 1_000),
            Some(("key_1".to_owned(), "00ff".to_owned()))
        );
        assert_eq!(key.verify(&token, 2_000), None, "expired");
        let other = SessionKey(SecretString::from("j".repeat(32)));
        assert_eq!(other.verify(&token, 1_000), None);
        let (_, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("key_2.9999999.00"));
        assert_eq!(key.verify(&forged, 1_000), None);
        assert_eq!(key.verify("garbage", 1_000), None);
        assert_ne!(
            key.csrf(&token),
            key.csrf(&key.issue("key_1", "00fe", 2_000))
        );
        assert_eq!(format!("{key:?}"), "SessionKey([redacted])");
        let login = key.login_csrf("00ff");
        assert!(key.login_csrf_matches("00ff", &login));
        assert!(!key.login_csrf_matches("00fe", &login));
        assert!(!other.login_csrf_matches("00ff", &login));
        assert!(!key.login_csrf_matches("00ff", ""));
    }
}
