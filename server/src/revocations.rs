//! Revoked token ids and sessions, for resource servers: stored with a cursor, listed with
//! `GET /revocations?since=`, and pushed over Server-Sent Events. A poller reads new rows
//! every few hundred milliseconds, so revocations made by another replica or by the admin
//! CLI reach every stream too.

use std::time::Duration;

use sqlx::{Any, Row, Transaction};
use tessera_contract::{Revocation, RevocationKind};
use tokio::sync::broadcast;

use crate::db::{Backend, Db, REVOCATION_LOCK};
use crate::error::Result;
use tessera_contract::SharedClock;

/// Revocation storage and its live feed.
#[derive(Clone)]
pub struct Revocations {
    db: Db,
    clock: SharedClock,
    feed: broadcast::Sender<Revocation>,
}

impl Revocations {
    /// Storage on `db`, with a feed that [`Revocations::run_poller`] fills.
    pub fn new(db: Db, clock: SharedClock) -> Revocations {
        let (feed, _) = broadcast::channel(1024);
        Revocations { db, clock, feed }
    }

    /// Records a revocation (idempotent).
    pub async fn add(&self, kind: RevocationKind, value: &str, expires_at: i64) -> Result<()> {
        let mut tx = self.db.begin().await?;
        self.add_in(&mut tx, kind, value, expires_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a revocation inside the caller's transaction. On PostgreSQL it first takes
    /// a transaction-scoped advisory lock, so revocations commit in the order of their
    /// cursor ids: otherwise a reader could see id 11 committed before id 10 and move its
    /// cursor past 10 for good. (SQLite has one writer at a time already.)
    pub(crate) async fn add_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        kind: RevocationKind,
        value: &str,
        expires_at: i64,
    ) -> Result<()> {
        if self.db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(REVOCATION_LOCK)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("INSERT INTO revocations (kind, value, expires_at, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING")
            .bind(kind.as_str())
            .bind(value)
            .bind(expires_at)
            .bind(self.clock.unix_secs())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Unexpired revocations after `cursor`, oldest first, at most `limit`.
    pub async fn since(&self, cursor: i64, limit: i64) -> Result<Vec<Revocation>> {
        let rows = sqlx::query("SELECT id, kind, value, expires_at FROM revocations WHERE id > $1 AND expires_at > $2 ORDER BY id LIMIT $3")
            .bind(cursor)
            .bind(self.clock.unix_secs())
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind: String = r.try_get("kind")?;
            let Some(kind) = RevocationKind::from_wire(&kind) else {
                // Written by a newer version: not ours to publish.
                continue;
            };
            out.push(Revocation {
                id: r.try_get("id")?,
                kind,
                value: r.try_get("value")?,
                expires_at: r.try_get("expires_at")?,
            });
        }
        Ok(out)
    }

    /// The highest cursor so far (0 if none).
    pub async fn latest(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS latest FROM revocations")
            .fetch_one(self.db.pool())
            .await?;
        Ok(row.try_get::<i64, _>("latest")?)
    }

    /// True if a token with this `jti` or `sessionId` is revoked.
    pub async fn is_revoked(&self, jti: Option<&str>, session: Option<&str>) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM revocations WHERE expires_at > $1 AND ((kind = $2 AND value = $3) OR (kind = $4 AND value = $5))")
            .bind(self.clock.unix_secs())
            .bind(RevocationKind::Jti.as_str())
            .bind(jti.unwrap_or(""))
            .bind(RevocationKind::Session.as_str())
            .bind(session.unwrap_or(""))
            .fetch_one(self.db.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Subscribes to revocations as the poller finds them.
    pub fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.feed.subscribe()
    }

    /// Polls for new revocations forever, broadcasting each once; also deletes rows that
    /// expired more than a day ago.
    pub async fn run_poller(self, every: Duration) {
        let mut cursor = self.latest().await.unwrap_or(0);
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rounds: u64 = 0;
        loop {
            ticker.tick().await;
            rounds += 1;
            match self.since(cursor, 1000).await {
                Ok(batch) => {
                    for revocation in batch {
                        cursor = cursor.max(revocation.id);
                        // No subscribers is fine.
                        let _ = self.feed.send(revocation);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "revocation poll failed"),
            }
            if rounds.is_multiple_of(2400) {
                let horizon = self.clock.unix_secs() - 86_400;
                if let Err(e) = sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
                    .bind(horizon)
                    .execute(self.db.pool())
                    .await
                {
                    tracing::warn!(error = %e, "revocation cleanup failed");
                }
            }
        }
    }
}
