//! RFC 7638 JWK thumbprints: SHA-256 over the required members in lexicographic order,
//! with no whitespace. Used as the default `kid`.

use aws_lc_rs::digest;

use crate::b64;
use crate::jwk::{Jwk, KeyParams};

/// The base64url SHA-256 thumbprint of the key's public (or, for `oct`, secret) members.
///
/// ```
/// use tessera_jose::{thumbprint, Jwk};
///
/// // RFC 7638 section 3.1.
/// let jwk = Jwk::from_json(r#"{"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#)?;
/// assert_eq!(thumbprint(&jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
/// # Ok::<(), tessera_jose::Error>(())
/// ```
pub fn thumbprint(jwk: &Jwk) -> String {
    let canonical = match &jwk.params {
        KeyParams::Rsa { n, e, .. } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64::encode(e),
            b64::encode(n)
        ),
        KeyParams::Ec { crv, x, y, .. } => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            crv.as_str(),
            b64::encode(x),
            b64::encode(y)
        ),
        KeyParams::Okp { x, .. } => {
            format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                b64::encode(x)
            )
        }
        KeyParams::X25519 { x, .. } => {
            format!(r#"{{"crv":"X25519","kty":"OKP","x":"{}"}}"#, b64::encode(x))
        }
        KeyParams::Oct { k } => format!(r#"{{"k":"{}","kty":"oct"}}"#, b64::encode(k)),
        // RFC 9964 section 5: `alg`, `kty` and `pub`.
        KeyParams::Akp { alg, public, .. } => format!(
            r#"{{"alg":"{}","kty":"AKP","pub":"{}"}}"#,
            alg.as_str(),
            b64::encode(public)
        ),
    };
    b64::encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}
