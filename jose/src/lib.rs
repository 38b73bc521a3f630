//! The JOSE core of Tessera: JSON Web Keys and Key Sets, compact JWS signing and
//! verification, and JWT claims validation, with all cryptography in aws-lc-rs and no I/O.
//!
//! Keys are parsed once into [`SigningKey`] / [`VerifyingKey`]; a token is parsed into an
//! [`UnverifiedJwt`], whose claims can only be read after [`UnverifiedJwt::verify`] has turned
//! it into a [`Jwt`]. The defaults are the secure ones: `none` is unrepresentable, the
//! algorithm comes from the key, `exp` is required, symmetric keys are never taken from a
//! JWKS, `crit` extensions are refused, and size and depth limits apply before any crypto.
//! Text from outside that an error echoes (a `kid`, an `iss`, a PEM label) goes through
//! [`shown`], which bounds it and escapes anything that could forge a log line.
//!
//! ```
//! use tessera_jose::{Algorithm, Jwk, KeySet, JwkSet, SigningKey, UnverifiedJwt, Validation};
//!
//! // The issuer: a key, and a token.
//! let jwk = Jwk::generate(Algorithm::RS256, None)?;
//! let signer = SigningKey::from_jwk(&jwk, None)?;
//! let token = signer.sign_jwt(&serde_json::json!({
//!     "iss": "https://auth.example.com", "aud": "api", "sub": "jane",
//!     "exp": tessera_jose::unix_now() + 600,
//! }))?;
//!
//! // The resource server: the published set, and a policy.
//! let keys = KeySet::from_slice(JwkSet::new(vec![jwk]).to_public().to_json().as_bytes())?;
//! let validation = Validation::new()
//!     .issuer("https://auth.example.com")
//!     .audience("api")
//!     .algorithms([Algorithm::RS256]);
//! let jwt = UnverifiedJwt::parse(&token)?.verify(&keys, &validation)?;
//! assert_eq!(jwt.claims().sub(), Some("jane"));
//! # Ok::<(), tessera_jose::Error>(())
//! ```

#![forbid(unsafe_code)]

mod alg;
mod b64;
mod claims;
pub mod dangerous;
mod error;
mod fast;
mod json;
pub mod jwe;
mod jwk;
mod jwks;
mod jws;
mod jwt;
mod key;
pub mod pem;
mod shown;
mod thumbprint;
mod validation;

pub use alg::{Algorithm, Family};
pub use claims::Claims;
pub use error::{AlgorithmError, ClaimError, EncodingError, Error, KeyError, MalformedError, Part};
pub use jwk::{Curve, Jwk, KeyUse};
pub use jwks::{JwkSet, KeySet, SkippedKey};
pub use jws::{Header, Limits};
pub use jwt::{Candidates, Jwt, KeyResolver, UnverifiedJwt};
pub use key::{SigningKey, VerifyingKey};
pub use shown::{shown, Shown};
pub use thumbprint::thumbprint;
pub use validation::{unix_now, UtcTime, Validation};

/// Entry points for the fuzz targets in `fuzz/`, which compare the crate's private
/// decoders with reference implementations. Not part of the API: hidden from the
/// documentation, and free to change in any release.
///
/// This is a `#[doc(hidden)]` module, not a cargo feature, so that it is always compiled
/// (and checked by clippy and the tests) and cannot rot between fuzzing sessions.
#[doc(hidden)]
pub mod __fuzz {
    /// The strict base64url decoder: canonical unpadded base64url only.
    pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
        crate::b64::decode(text)
    }

    /// The same decoder, into a buffer that may hold old bytes.
    pub fn b64_decode_into(text: &str, out: &mut Vec<u8>) -> Option<()> {
        crate::b64::decode_into(text, out)
    }

    /// The decoder that runs up to the first byte outside the alphabet and returns how
    /// far that is (what the fast path uses to find a token's second `.`).
    pub fn b64_decode_until_stop(text: &str, out: &mut Vec<u8>) -> Option<usize> {
        crate::b64::decode_until_stop(text, out)
    }
}
