//! `inlet send-test-event`: asks the running server, through its API, to sign a realistic
//! sample of a provider's event with the integration's own secret and run it through the
//! webhook path, like `stripe trigger`. It opens no database, so it works from any folder.

use inlet_shared::config::Config;
use serde::Serialize;

/// What the server answered.
pub struct Sent {
    /// HTTP status.
    pub status: u16,
    /// Response body (the JSON `{success, message, id}` the webhook endpoint answered).
    pub body: String,
}

/// Why no test event was sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `--url` is not a URL.
    #[error("--url {base:?} is not a URL")]
    BadUrl {
        /// The URL given.
        base: String,
        /// Why it does not parse.
        #[source]
        source: <reqwest::Url as std::str::FromStr>::Err,
    },
    /// `--url` is a URL without a path (`mailto:`, `data:`).
    #[error("--url {0:?} cannot have a path")]
    NotABase(String),
    /// Nothing answered at the URL.
    #[error("cannot reach Inlet at {base}")]
    Unreachable {
        /// Where the CLI looked.
        base: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered, with an error.
    #[error("the server answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The answer's `message`, or its body when it has none.
        message: String,
    },
}

impl SendError {
    /// What to try next, where the error suggests something.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Unreachable { .. } => Some("is it running? pass --url to point at it"),
            Self::Refused { status: 401, .. } => Some("pass --api-key or set INLET_API_KEY"),
            _ => None,
        }
    }
}

/// The base URL the CLI reaches the server at: `url` if given, else `INLET_PUBLIC_URL`
/// when it was set, else the listen address (a wildcard address is reached through
/// loopback).
pub fn local_base(config: &Config, url: Option<&str>) -> String {
    if let Some(url) = url {
        return url.trim_end_matches('/').to_owned();
    }
    let mut addr = config.listen;
    // Unset, the public URL is derived from the listen address; set, it is where the
    // server is reached.
    if config.public_url != format!("http://{addr}") {
        return config.public_url.clone();
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

/// First name and the rest: `"Ada King Lovelace"` is Ada and King Lovelace.
pub fn split_name(name: &str) -> (&str, &str) {
    match name.trim().split_once(char::is_whitespace) {
        Some((first, last)) => (first, last.trim()),
        None => (name.trim(), ""),
    }
}

/// Body of `POST /api/v1/integrations/{id}/test-events`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestEvent<'a> {
    event_type: &'a str,
    email: &'a str,
    first_name: &'a str,
    last_name: &'a str,
}

/// What the test event is and where it goes.
pub struct Request<'a> {
    /// The integration's id (`int_…`).
    pub integration_id: &'a str,
    /// The platform's event type.
    pub event_type: &'a str,
    /// The sample person's email address.
    pub email: &'a str,
    /// The sample person's name, first name first.
    pub name: &'a str,
    /// The server's base URL.
    pub base: &'a str,
    /// An API key of the server.
    pub api_key: &'a str,
}

/// Sends one sample event through the server's API; a 2xx answer is returned, any other
/// is an error carrying the server's message.
pub async fn send(request: &Request<'_>) -> Result<Sent, SendError> {
    let base = request.base;
    let mut url = reqwest::Url::parse(base).map_err(|source| SendError::BadUrl {
        base: base.to_owned(),
        source,
    })?;
    // Segments, so an id is never read as a path or a query.
    url.path_segments_mut()
        .map_err(|()| SendError::NotABase(base.to_owned()))?
        .pop_if_empty()
        .extend([
            "api",
            "v1",
            "integrations",
            request.integration_id,
            "test-events",
        ]);
    let (first_name, last_name) = split_name(request.name);
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(request.api_key)
        .json(&TestEvent {
            event_type: request.event_type,
            email: request.email,
            first_name,
            last_name,
        })
        .send()
        .await
        .map_err(|source| SendError::Unreachable {
            base: base.to_owned(),
            source,
        })?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| body.trim().replace('\n', " "));
        return Err(SendError::Refused { status, message });
    }
    Ok(Sent { status, body })
}

#[cfg(test)]
mod tests {
    use super::split_name;

    #[test]
    fn a_name_splits_at_its_first_space() {
        assert_eq!(split_name("Ada Lovelace"), ("Ada", "Lovelace"));
        assert_eq!(split_name(" Ada  King Lovelace "), ("Ada", "King Lovelace"));
        assert_eq!(split_name("Cher"), ("Cher", ""));
    }
}
