//! Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0).
//!
//! Ending a session stores one job per client of the session that registered a back-channel
//! URI, in the same transaction ([`crate::sessions`]). This task POSTs each a freshly signed
//! `logout_token`, retrying with exponential backoff (5 s doubling to an hour) for about a
//! day. Jobs are rows, so a restart loses none; several replicas share them, each claiming a
//! job before it sends it.

use std::time::Duration;

use sqlx::Row;
use tessera_jose::Shown;

use crate::error::{Error, Result};
use crate::AppState;

/// Attempts before a job is given up (about a day of retries).
const MAX_ATTEMPTS: i64 = 30;
/// How long a claimed job is left to its claimer before another replica may take it.
const CLAIM: i64 = 60;

/// The HTTP client of the deliveries: a 5 s timeout, no redirects, rustls.
pub(crate) fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot build the back-channel client: {e}")))
}

/// Delivers the jobs that are due; returns how many were delivered.
pub(crate) async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<usize> {
    let now = state.clock.unix_secs();
    let due = sqlx::query("SELECT id, client_id, uri, session_id, subject, attempts, next_attempt_at FROM backchannel_logouts WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 16")
        .bind(now)
        .fetch_all(state.db.pool())
        .await?;
    let mut delivered = 0;
    for row in due {
        let id: String = row.try_get("id")?;
        let due_at: i64 = row.try_get("next_attempt_at")?;
        // Claim it: another replica that read the same row loses this race.
        let claimed = sqlx::query("UPDATE backchannel_logouts SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3")
            .bind(now + CLAIM)
            .bind(&id)
            .bind(due_at)
            .execute(state.db.pool())
            .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        let client_id: String = row.try_get("client_id")?;
        let uri: String = row.try_get("uri")?;
        let session_id: String = row.try_get("session_id")?;
        let subject: String = row.try_get("subject")?;
        let attempts: i64 = row.try_get("attempts")?;
        let outcome = send(state, http, &client_id, &uri, &subject, &session_id).await;
        match outcome {
            Ok(()) => {
                sqlx::query("DELETE FROM backchannel_logouts WHERE id = $1")
                    .bind(&id)
                    .execute(state.db.pool())
                    .await?;
                delivered += 1;
                tracing::info!(client = %Shown::full(&client_id), session = %session_id, "back-channel logout delivered");
            }
            Err(reason) if attempts + 1 >= MAX_ATTEMPTS => {
                sqlx::query("DELETE FROM backchannel_logouts WHERE id = $1")
                    .bind(&id)
                    .execute(state.db.pool())
                    .await?;
                tracing::warn!(client = %Shown::full(&client_id), session = %session_id, reason = %Shown::full(&reason), "back-channel logout given up after {MAX_ATTEMPTS} attempts");
            }
            Err(reason) => {
                let next = now + backoff(attempts);
                sqlx::query("UPDATE backchannel_logouts SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3")
                    .bind(next)
                    .bind(reason.chars().take(300).collect::<String>())
                    .bind(&id)
                    .execute(state.db.pool())
                    .await?;
                tracing::warn!(client = %Shown::full(&client_id), session = %session_id, reason = %Shown::full(&reason), retry_in = next - now, "back-channel logout failed; will retry");
            }
        }
    }
    Ok(delivered)
}

/// Seconds before attempt `attempts + 1`: 5 s, doubling, at most an hour.
fn backoff(attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    (5i64 << exponent).min(3600)
}

async fn send(
    state: &AppState,
    http: &reqwest::Client,
    client_id: &str,
    uri: &str,
    subject: &str,
    session_id: &str,
) -> std::result::Result<(), String> {
    let token = state
        .issuer
        .logout_token(client_id, subject, session_id)
        .map_err(|e| e.to_string())?
        .ok_or("no key can sign a logout token yet")?;
    let body = serde_urlencoded::to_string([("logout_token", token)]).map_err(|e| e.to_string())?;
    let response = http
        .post(uri)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", response.status().as_u16()))
    }
}

/// Runs deliveries every second until the process ends.
pub(crate) async fn run(state: AppState) {
    let http = match client() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logouts disabled");
            return;
        }
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = deliver_due(&state, &http).await {
            tracing::warn!(error = %Shown::full(&e.to_string()), "back-channel logout pass failed; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(super::backoff(0), 5);
        assert_eq!(super::backoff(1), 10);
        assert_eq!(super::backoff(5), 160);
        assert_eq!(super::backoff(20), 3600);
    }
}
