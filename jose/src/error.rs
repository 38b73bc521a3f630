//! The crate's error type. Every variant names what failed, so a log line or a CLI message
//! is enough to understand why a token or a key was refused.

use std::fmt;

use crate::alg::Algorithm;

/// Everything that can go wrong in the JOSE core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token, header or payload is malformed before any cryptography ran.
    #[error("malformed token: {0}")]
    Malformed(#[from] MalformedError),

    /// A key could not be parsed or is not acceptable.
    #[error("key rejected: {0}")]
    Key(#[from] KeyError),

    /// The header's algorithm is not allowed for this key or by the policy.
    #[error("algorithm rejected: {0}")]
    Algorithm(#[from] AlgorithmError),

    /// The token names a key id that the key set does not hold.
    #[error("unknown key id `{0}`")]
    UnknownKid(String),

    /// The token has no `kid` and the key set does not have exactly one candidate key.
    #[error("token has no `kid` and the key set holds {0} candidate keys for its algorithm")]
    AmbiguousKey(usize),

    /// The signature does not verify with the selected key.
    #[error("signature verification failed")]
    InvalidSignature,

    /// The claims are well formed but fail validation.
    #[error("claim validation failed: {0}")]
    Claim(#[from] ClaimError),

    /// A PEM, DER or OpenSSH document could not be decoded.
    #[error("encoding error: {0}")]
    Encoding(String),

    /// The operating system's random source or a crypto primitive failed unexpectedly.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

/// Structural problems with a compact token, found before any cryptography.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedError {
    /// The token is longer than the configured limit.
    #[error("token is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the token in bytes.
        size: usize,
        /// Configured limit in bytes.
        limit: usize,
    },
    /// The token does not have exactly three dot-separated parts.
    #[error("expected 3 dot-separated parts, found {0}")]
    PartCount(usize),
    /// A part is not canonical unpadded base64url.
    #[error("{0} is not canonical unpadded base64url")]
    Base64(Part),
    /// A part is not valid JSON, or not a JSON object.
    #[error("{part} is not a JSON object: {reason}")]
    Json {
        /// Which part.
        part: Part,
        /// What the JSON parser said.
        reason: String,
    },
    /// JSON nested deeper than the limit.
    #[error("{part} is nested deeper than {limit} levels")]
    TooDeep {
        /// Which part.
        part: Part,
        /// Configured depth limit.
        limit: usize,
    },
    /// A header parameter has the wrong type or value.
    #[error("header parameter `{name}`: {reason}")]
    Header {
        /// Header parameter name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The `crit` header lists something this implementation does not understand, or is
    /// itself malformed.
    #[error("header `crit`: {0}")]
    Crit(String),
    /// A JSON object has the same member twice.
    #[error("{part} has duplicate member `{name}`")]
    DuplicateMember {
        /// Which part.
        part: Part,
        /// The duplicated member.
        name: String,
    },
}

/// One of the three parts of a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The protected header.
    Header,
    /// The payload (claims).
    Payload,
    /// The signature.
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The JWK JSON is not valid or misses a member.
    #[error("invalid JWK: {0}")]
    InvalidJwk(String),
    /// The key type or curve is not supported.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// An RSA modulus is shorter than 2048 bits.
    #[error("RSA key is {0} bits; at least 2048 bits are required")]
    RsaTooSmall(usize),
    /// An HMAC key is shorter than the hash output of its algorithm.
    #[error("{alg} needs a key of at least {min} bytes, this one has {len}")]
    HmacTooShort {
        /// Algorithm the key was meant for.
        alg: Algorithm,
        /// Minimum length in bytes.
        min: usize,
        /// Actual length in bytes.
        len: usize,
    },
    /// The key is marked for encryption (`use: "enc"`) or its `key_ops` exclude this use.
    #[error("key is not usable for {wanted}: {reason}")]
    WrongUse {
        /// `sign` or `verify`.
        wanted: &'static str,
        /// The key's `use`/`key_ops`.
        reason: String,
    },
    /// A private operation was asked of a public key.
    #[error("a private key is required, this is a public key")]
    NotPrivate,
    /// The key material is inconsistent or rejected by the crypto library.
    #[error("key material rejected: {0}")]
    Rejected(String),
    /// The key's `kty`/`crv` cannot be used with the requested algorithm.
    #[error("a {kty} key cannot be used with {alg}")]
    KtyMismatch {
        /// The key's type (and curve).
        kty: String,
        /// The requested algorithm.
        alg: Algorithm,
    },
}

/// Why an algorithm was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlgorithmError {
    /// `alg: none` (in any letter case) never verifies.
    #[error("`none` is never accepted")]
    None,
    /// The algorithm name is not one this implementation knows.
    #[error("unsupported algorithm `{0}`")]
    Unsupported(String),
    /// The header's algorithm differs from the key's.
    #[error("header says {header}, but the key is for {key}")]
    Mismatch {
        /// Algorithm in the token header.
        header: Algorithm,
        /// Algorithm(s) the key is bound to.
        key: String,
    },
    /// The algorithm is not in the verifier's allow-list.
    #[error("{0} is not in the allowed algorithms")]
    NotAllowed(Algorithm),
    /// Symmetric keys are never taken from a key set published for verification.
    #[error("symmetric (HS*) keys are never accepted from a JWKS")]
    SymmetricFromSet,
}

/// Why the claims failed validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    /// A registered claim has the wrong JSON type.
    #[error("claim `{claim}` is {found}, expected {expected}")]
    WrongType {
        /// The claim name.
        claim: String,
        /// The expected JSON type.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A required claim is absent.
    #[error("required claim `{0}` is missing")]
    Missing(String),
    /// `exp` is in the past (beyond leeway).
    #[error("token expired at {exp}, now is {now} (leeway {leeway}s)")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// Current time.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `nbf` is in the future (beyond leeway).
    #[error("token not valid before {nbf}, now is {now} (leeway {leeway}s)")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// Current time.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is in the future (beyond leeway).
    #[error("token issued in the future at {iat}, now is {now} (leeway {leeway}s)")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// Current time.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is older than the configured maximum age.
    #[error("token issued at {iat} is older than the maximum age of {max_age}s")]
    TooOld {
        /// The token's `iat`.
        iat: i64,
        /// Maximum age in seconds.
        max_age: u64,
    },
    /// `iss` is not one of the accepted issuers.
    #[error("issuer `{0}` is not accepted")]
    Issuer(String),
    /// `aud` does not contain an accepted audience.
    #[error("audience {0} does not include an accepted audience")]
    Audience(String),
    /// The token has an `aud` claim but the verifier was not told which audience it is.
    #[error("token has audience {0} but no audience was configured to accept")]
    AudienceNotConfigured(String),
    /// `sub` is not the expected subject.
    #[error("subject `{0}` is not the expected subject")]
    Subject(String),
    /// The header `typ` is not the expected one.
    #[error("header `typ` is {found}, expected `{expected}`")]
    Type {
        /// Expected `typ`.
        expected: String,
        /// `typ` found (or "absent").
        found: String,
    },
}
