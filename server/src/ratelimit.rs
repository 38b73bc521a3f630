//! Failed-login limits, shared by every replica through the database, and a per-user queue
//! so that one user's burst of logins cannot starve everyone else's.
//!
//! Three counts, each over a sliding window (`failure_window`): failures of one user name
//! from one client address (`max_failures_per_user`), of one user name from anywhere (ten
//! times that, so that a stranger cannot lock a user out with a few wrong passwords), and
//! from one address (`max_failures_per_address`, IPv6 by /64).
//!
//! An attempt reserves its place in all three counts before its password is checked, as
//! if it had failed, and gives the place back only when it succeeds. So attempts in flight
//! count, on every replica (the count and the reservation are one transaction, serialised on
//! PostgreSQL by an advisory lock), and the configured limit is the real number of
//! passwords tried per window, however many guesses arrive at once and wherever they land.
//! An attempt that ends in an internal error gives its place back too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::Row;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::accounts::random_token;
use crate::db::{Backend, Db, LIMITER_LOCK};
use crate::error::Result;

/// How many times the per-user-and-address limit a user name may fail from anywhere.
const USER_LIMIT_FACTOR: i64 = 10;
/// Password checks of one user name running at once, per replica.
const CONCURRENT_PER_USER: usize = 2;
/// Attempts of one user name waiting for their turn, per replica; more are refused at once.
const WAITING_PER_USER: usize = 16;

/// Counts failures in the database and queues each user's attempts.
pub(crate) struct FailureLimiter {
    db: Db,
    window: i64,
    max_per_user: i64,
    max_per_address: i64,
    queues: Mutex<HashMap<String, Queue>>,
}

/// One user name's turn-taking on this replica.
struct Queue {
    running: Arc<Semaphore>,
    /// Attempts holding or waiting for a permit.
    members: usize,
}

/// One login attempt under way: its places in the counts are reserved. Say how it ended
/// with [`Attempt::failed`] or [`Attempt::succeeded`]; dropped otherwise (an internal
/// error), it gives its places back.
pub(crate) struct Attempt {
    limiter: Arc<FailureLimiter>,
    id: String,
    pair: String,
    user: String,
    ended: bool,
    _turn: OwnedSemaphorePermit,
}

impl Attempt {
    /// Wrong password, unknown or disabled user: the reservations stay, as failures.
    pub(crate) fn failed(mut self) {
        self.ended = true;
    }

    /// A successful login: gives the places back and forgets this user's failures from
    /// this address.
    pub(crate) async fn succeeded(mut self) -> Result<()> {
        self.ended = true;
        sqlx::query("DELETE FROM login_attempts WHERE attempt = $1 OR key = $2")
            .bind(&self.id)
            .bind(&self.pair)
            .execute(self.limiter.db.pool())
            .await?;
        Ok(())
    }

    /// Not a password attempt after all (its DPoP proof was refused before the password was
    /// looked at): gives the places back before returning, so it counts for nothing.
    pub(crate) async fn abandon(mut self) -> Result<()> {
        self.ended = true;
        sqlx::query("DELETE FROM login_attempts WHERE attempt = $1")
            .bind(&self.id)
            .execute(self.limiter.db.pool())
            .await?;
        Ok(())
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.limiter.leave(&self.user);
        if self.ended {
            return;
        }
        let db = self.limiter.db.clone();
        let id = std::mem::take(&mut self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = sqlx::query("DELETE FROM login_attempts WHERE attempt = $1")
                    .bind(id)
                    .execute(db.pool())
                    .await;
            });
        }
    }
}

/// Why an attempt may not start.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A limit is reached: retry after this many seconds.
    Limited(u64),
    /// Too many attempts of this user name already waiting here.
    Busy,
}

impl FailureLimiter {
    /// A limiter allowing `per_user` failures per user name and address, ten times that per
    /// user name from anywhere, and `per_address` per address, per `window` seconds.
    pub(crate) fn new(db: Db, window: u64, per_user: u32, per_address: u32) -> FailureLimiter {
        FailureLimiter {
            db,
            window: i64::try_from(window).unwrap_or(i64::MAX / 4),
            max_per_user: i64::from(per_user),
            max_per_address: i64::from(per_address),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for this user name's turn, then reserves the attempt's places, or says why it
    /// may not start.
    pub(crate) async fn begin(
        self: &Arc<Self>,
        user: &str,
        address: &str,
        now: i64,
    ) -> Result<std::result::Result<Attempt, Refused>> {
        let user_key = user_key(user);
        let id = random_token(12)?;
        let Some(running) = self.join(&user_key) else {
            return Ok(Err(Refused::Busy));
        };
        let turn = match running.acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => {
                self.leave(&user_key);
                return Ok(Err(Refused::Busy));
            }
        };
        let attempt = Attempt {
            limiter: self.clone(),
            id,
            pair: pair_key(user, address),
            user: user_key,
            ended: true,
            _turn: turn,
        };
        let keys = [
            (attempt.pair.clone(), self.max_per_user),
            (
                attempt.user.clone(),
                self.max_per_user.saturating_mul(USER_LIMIT_FACTOR),
            ),
            (address_key(address), self.max_per_address),
        ];
        let mut tx = self.db.begin().await?;
        if self.db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(LIMITER_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        let since = now - self.window;
        let rows = sqlx::query("SELECT key, COUNT(*) AS n, MIN(at) AS oldest FROM login_attempts WHERE key IN ($1, $2, $3) AND at > $4 GROUP BY key")
            .bind(&keys[0].0)
            .bind(&keys[1].0)
            .bind(&keys[2].0)
            .bind(since)
            .fetch_all(&mut *tx)
            .await?;
        let mut wait = 0i64;
        for row in &rows {
            let key: String = row.try_get("key")?;
            let n: i64 = row.try_get("n")?;
            let oldest: i64 = row.try_get("oldest")?;
            let limit = keys.iter().find(|(k, _)| *k == key).map_or(0, |(_, l)| *l);
            if n >= limit {
                wait = wait.max(oldest + self.window - now).max(1);
            }
        }
        if wait > 0 {
            tx.commit().await?;
            return Ok(Err(Refused::Limited(u64::try_from(wait).unwrap_or(1))));
        }
        for (key, _) in &keys {
            sqlx::query("INSERT INTO login_attempts (attempt, key, at) VALUES ($1, $2, $3)")
                .bind(&attempt.id)
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let mut attempt = attempt;
        attempt.ended = false;
        Ok(Ok(attempt))
    }

    /// Forgets failures that have left the window.
    pub(crate) async fn sweep(&self, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM login_attempts WHERE at <= $1")
            .bind(now - self.window)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Joins a user name's queue; `None` if too many are waiting already.
    fn join(&self, user_key: &str) -> Option<Arc<Semaphore>> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues.entry(user_key.to_owned()).or_insert_with(|| Queue {
            running: Arc::new(Semaphore::new(CONCURRENT_PER_USER)),
            members: 0,
        });
        if queue.members >= CONCURRENT_PER_USER + WAITING_PER_USER {
            return None;
        }
        queue.members += 1;
        Some(queue.running.clone())
    }

    fn leave(&self, user_key: &str) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = queues.get_mut(user_key) {
            queue.members = queue.members.saturating_sub(1);
            if queue.members == 0 {
                queues.remove(user_key);
            }
        }
    }
}

fn pair_key(user: &str, address: &str) -> String {
    format!("p:{}|{}", storable(&user.to_lowercase()), storable(address))
}

fn user_key(user: &str) -> String {
    format!("u:{}", storable(&user.to_lowercase()))
}

fn address_key(address: &str) -> String {
    format!("a:{}", storable(address))
}

/// PostgreSQL refuses NUL in text: a name holding one still gets a key of its own.
fn storable(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_and_hold_no_nul() {
        assert_eq!(user_key("Jane"), "u:jane");
        assert_eq!(pair_key("JANE", "1.2.3.4"), "p:jane|1.2.3.4");
        assert!(!user_key("a\0b").contains('\0'));
        assert_ne!(user_key("a\0b"), user_key("ab"));
    }
}
