//! The crate's error type. Every variant names what failed, so a log line or a CLI message
//! is enough to understand why a token or a key was refused.
//!
//! A variant that wraps a more specific error writes it in its own message and does not also
//! return it from `source()`: an error reporter that prints each error of the chain would
//! otherwise print the cause twice. So the wrapping variants have hand-written `From`
//! impls rather than `#[from]` (which would make the field the source too).

use std::fmt;

use crate::alg::Algorithm;
use crate::validation::UtcTime;

/// Everything that can go wrong in the JOSE core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token, header or payload is malformed before any cryptography ran.
    #[error("malformed token: {0}")]
    Malformed(MalformedError),

    /// A key could not be parsed or is not acceptable.
    #[error("key rejected: {0}")]
    Key(KeyError),

    /// The header's algorithm is not allowed for this key or by the policy.
    #[error("algorithm rejected: {0}")]
    Algorithm(AlgorithmError),

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
    Claim(ClaimError),

    /// A PEM, DER or OpenSSH document could not be decoded (or a key encoded).
    #[error("encoding error: {0}")]
    Encoding(EncodingError),

    /// A JWE was refused or could not be made.
    #[error("JWE refused: {0}")]
    Jwe(crate::jwe::JweError),

    /// The operating system's random source or a crypto primitive failed unexpectedly.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

impl From<MalformedError> for Error {
    fn from(e: MalformedError) -> Self {
        Error::Malformed(e)
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(e)
    }
}

impl From<AlgorithmError> for Error {
    fn from(e: AlgorithmError) -> Self {
        Error::Algorithm(e)
    }
}

impl From<ClaimError> for Error {
    fn from(e: ClaimError) -> Self {
        Error::Claim(e)
    }
}

impl From<EncodingError> for Error {
    fn from(e: EncodingError) -> Self {
        Error::Encoding(e)
    }
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
    #[error("expected 3 dot-separated parts, found {0}{hint}", hint = if *.0 == 5 { ": a JWE where a JWS was expected (decrypt it first)" } else { "" })]
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
    #[error("token expired at {} ({exp}), now is {} (leeway {leeway}s)", UtcTime(*exp), UtcTime(*now))]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// Current time.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `nbf` is in the future (beyond leeway).
    #[error("token not valid before {} ({nbf}), now is {} (leeway {leeway}s)", UtcTime(*nbf), UtcTime(*now))]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// Current time.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is in the future (beyond leeway).
    #[error("token issued in the future at {} ({iat}), now is {} (leeway {leeway}s)", UtcTime(*iat), UtcTime(*now))]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// Current time.
        now: i64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is older than the configured maximum age.
    #[error("token issued at {} ({iat}) is older than the maximum age of {max_age}s", UtcTime(*iat))]
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

/// Why a PEM, DER or OpenSSH document could not be read, or a key not written as DER.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodingError {
    /// The text holds no `-----BEGIN ...-----` line.
    #[error("no PEM key block found")]
    NoPemBlock,
    /// A `-----BEGIN` line does not end with `-----`.
    #[error("unterminated PEM header line")]
    UnterminatedPemHeader,
    /// A PEM block has no END line matching its BEGIN line.
    #[error("missing `-----END {label}-----`")]
    MissingPemEnd {
        /// The block's label, made safe to show (see [`shown`](crate::shown)).
        label: String,
    },
    /// Base64 text inside a container is not valid (standard, padded) base64.
    #[error("{0} is not valid base64")]
    Base64(&'static str),
    /// A DER structure could not be read or written.
    #[error("DER: {0}")]
    Der(String),
    /// The DER structure was read, but the key it holds is malformed (a curve not named, a
    /// public key of the wrong size).
    #[error("{0}")]
    MalformedKey(&'static str),
    /// The data of an OpenSSH public or private key is malformed.
    #[error("OpenSSH {0}")]
    OpenSsh(&'static str),
    /// The input is a key in none of the forms understood.
    #[error("not a PEM, JWK, OpenSSH or DER key this tool understands")]
    UnknownFormat,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// One error of every variant. The match has no wildcard, so a new variant does not
    /// compile until it is added here too.
    fn one_of_each() -> Vec<Error> {
        let all = vec![
            Error::Malformed(MalformedError::DuplicateMember {
                part: Part::Header,
                name: "alg".into(),
            }),
            Error::Key(KeyError::InvalidJwk("member `n` is missing".into())),
            Error::Algorithm(AlgorithmError::NotAllowed(Algorithm::HS256)),
            Error::UnknownKid("k1".into()),
            Error::AmbiguousKey(2),
            Error::InvalidSignature,
            Error::Claim(ClaimError::Missing("exp".into())),
            Error::Encoding(EncodingError::OpenSsh("key data is truncated")),
            Error::Jwe(crate::jwe::JweError::Rsa15),
            Error::Crypto("RSA keygen"),
        ];
        for e in &all {
            match e {
                Error::Malformed(_)
                | Error::Key(_)
                | Error::Algorithm(_)
                | Error::UnknownKid(_)
                | Error::AmbiguousKey(_)
                | Error::InvalidSignature
                | Error::Claim(_)
                | Error::Encoding(_)
                | Error::Jwe(_)
                | Error::Crypto(_) => {}
            }
        }
        all
    }

    /// What an error reporter that walks `source()` prints: each error of the chain.
    fn report(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(cause) = next {
            out.push(cause.to_string());
            next = cause.source();
        }
        out
    }

    #[test]
    fn no_cause_is_printed_twice() {
        for e in one_of_each() {
            let shown = e.to_string();
            match e.source() {
                None => {}
                Some(source) => assert!(
                    !shown.contains(&source.to_string()),
                    "{shown} repeats its source"
                ),
            }
            // Down the whole chain, no message holds one further down.
            let chain = report(&e);
            for (i, outer) in chain.iter().enumerate() {
                for inner in &chain[i + 1..] {
                    assert!(!outer.contains(inner.as_str()), "{chain:?}");
                }
            }
        }
    }

    /// The wrapping variants say what their cause says, once, in their own message.
    #[test]
    fn wrapping_variants_show_their_cause() {
        let cases: [(Error, String); 5] = [
            (
                MalformedError::PartCount(2).into(),
                MalformedError::PartCount(2).to_string(),
            ),
            (
                KeyError::NotPrivate.into(),
                KeyError::NotPrivate.to_string(),
            ),
            (
                AlgorithmError::None.into(),
                AlgorithmError::None.to_string(),
            ),
            (
                ClaimError::Missing("iss".into()).into(),
                ClaimError::Missing("iss".into()).to_string(),
            ),
            (
                EncodingError::NoPemBlock.into(),
                EncodingError::NoPemBlock.to_string(),
            ),
        ];
        for (e, cause) in cases {
            let text = e.to_string();
            assert_eq!(text.matches(cause.as_str()).count(), 1, "{text}");
            assert!(e.source().is_none(), "{text}");
            assert_eq!(report(&e), [text]);
        }
    }

    #[test]
    fn encoding_messages_name_the_problem() {
        for (e, text) in [
            (EncodingError::NoPemBlock, "no PEM key block found"),
            (
                EncodingError::MissingPemEnd {
                    label: "PUBLIC KEY".into(),
                },
                "missing `-----END PUBLIC KEY-----`",
            ),
            (
                EncodingError::Base64("PEM body"),
                "PEM body is not valid base64",
            ),
            (
                EncodingError::OpenSsh("private key: bad magic"),
                "OpenSSH private key: bad magic",
            ),
        ] {
            assert_eq!(
                Error::from(e).to_string(),
                format!("encoding error: {text}")
            );
        }
    }
}
