//! Claims the auth server puts in access tokens beyond the registered ones (RFC 7519,
//! RFC 9068), by the names resource servers read them under.

/// The login session a token belongs to (the seed's name). Revoking the session revokes
/// every token that carries it.
pub const SESSION_ID: &str = "sessionId";
/// The user's role (the seed's claim).
pub const ROLE: &str = "role";
/// Space-separated scopes (RFC 8693 section 4.2).
pub const SCOPE: &str = "scope";
/// The OAuth client a token was issued to (RFC 9068 section 2.2).
pub const CLIENT_ID: &str = "client_id";
/// Lowercase hex SHA-256 of the fingerprint cookie's value ([`crate::fingerprint`]).
pub const FINGERPRINT: &str = "fgp";
/// The `typ` header of access tokens (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
