//! Revocations as the auth server publishes them and resource servers apply them:
//! `GET /revocations?since=CURSOR` answers a [`RevocationPage`], and
//! `GET /revocations/stream` sends each [`Revocation`] as a Server-Sent Event named
//! [`EVENT`], its `id` the cursor (resume with `Last-Event-ID`).

use serde::{Deserialize, Serialize};
use tessera_jose::Claims;

use crate::claims::SESSION_ID;

/// Path of the revocation list, relative to the server's base URL.
pub const LIST_PATH: &str = "revocations";
/// Path of the revocation event stream, relative to the server's base URL.
pub const STREAM_PATH: &str = "revocations/stream";
/// The Server-Sent Event name of a revocation.
pub const EVENT: &str = "revocation";

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationKind {
    /// One token, by its `jti` claim.
    Jti,
    /// A login session, by the `sessionId` claim of every token it issued.
    Session,
}

impl RevocationKind {
    /// The name on the wire and in storage (`jti` or `session`).
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Jti => "jti",
            RevocationKind::Session => "session",
        }
    }

    /// The kind of a wire name, or `None` for a kind this version does not know.
    pub fn from_wire(name: &str) -> Option<RevocationKind> {
        match name {
            "jti" => Some(RevocationKind::Jti),
            "session" => Some(RevocationKind::Session),
            _ => None,
        }
    }

    /// The value of `claims` that a revocation of this kind matches: the `jti`, or the
    /// `sessionId` (when it is a string).
    pub fn value_in(self, claims: &Claims) -> Option<&str> {
        match self {
            RevocationKind::Jti => claims.jti(),
            RevocationKind::Session => claims.get_str(SESSION_ID),
        }
    }
}

impl std::fmt::Display for RevocationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Cursor: increases with every revocation.
    pub id: i64,
    /// What is revoked.
    pub kind: RevocationKind,
    /// The revoked `jti` or session id.
    pub value: String,
    /// Seconds since the epoch after which the entry no longer matters (every token it
    /// could match has expired).
    pub expires_at: i64,
}

/// One page of `GET /revocations?since=CURSOR`: the unexpired revocations after the cursor,
/// oldest first, and the cursor to ask from next. The server writes [`Revocation`]s; readers
/// take entries as raw JSON (the default) and skip those they cannot read (a kind from a
/// newer server) rather than the whole page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevocationPage<T = serde_json::Value> {
    /// The entries, oldest first.
    pub revocations: Vec<T>,
    /// The cursor of the last entry, or the one asked for if there is none.
    pub cursor: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        for kind in [RevocationKind::Jti, RevocationKind::Session] {
            assert_eq!(RevocationKind::from_wire(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().into())
            );
        }
        assert_eq!(RevocationKind::from_wire("user"), None);
        let r: Revocation = serde_json::from_str(
            r#"{"id":7,"kind":"session","value":"s1","expires_at":1800000000}"#,
        )
        .unwrap();
        assert_eq!(r.kind, RevocationKind::Session);
        assert!(serde_json::from_str::<Revocation>(
            r#"{"id":7,"kind":"user","value":"s1","expires_at":1}"#
        )
        .is_err());
    }
}
