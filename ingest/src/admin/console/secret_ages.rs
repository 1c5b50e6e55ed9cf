//! An integration's signing secrets as its console page lists them: each one's age and
//! expiry, never its value.

use inlet_shared::domain::now_ms;
use inlet_shared::integrations::secrets::{self, is_expired};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// A secret as the page lists it.
#[derive(Serialize)]
pub(super) struct SecretRow {
    /// When it was added (epoch ms, for the `time` filter).
    added: i64,
    /// How long ago, e.g. `3 days`.
    age: String,
    /// When it stops verifying (epoch ms), if ever.
    expires: Option<i64>,
    /// Whether it no longer verifies.
    expired: bool,
}

/// The integration's secrets, oldest first, as the page lists them.
pub(super) async fn secret_rows(state: &AppState, id: &str) -> Result<Vec<SecretRow>, ApiError> {
    let now = now_ms();
    Ok(secrets::list(&state.db, id)
        .await?
        .into_iter()
        .map(|s| SecretRow {
            added: s.created_at,
            age: age((now - s.created_at).max(0) / 1000),
            expires: s.expires_at,
            expired: is_expired(s.expires_at, now),
        })
        .collect())
}

/// A duration in its largest whole unit: `45 s`, `12 min`, `5 h`, `3 days`.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s if s < 2 * 86_400 => "1 day".to_owned(),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_their_largest_unit() {
        let shown: Vec<String> = [
            0,
            59,
            60,
            3599,
            3600,
            86_399,
            86_400,
            2 * 86_400,
            40 * 86_400,
        ]
        .into_iter()
        .map(age)
        .collect();
        assert_eq!(
            shown,
            [
                "0 s", "59 s", "1 min", "59 min", "1 h", "23 h", "1 day", "2 days", "40 days"
            ]
        );
    }
}
