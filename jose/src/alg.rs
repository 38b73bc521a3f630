//! JWS algorithms (RFC 7518 section 3, RFC 8037, and ML-DSA of RFC 9964) and how they map
//! to aws-lc-rs.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{
    self, EcdsaSigningAlgorithm, PqdsaSigningAlgorithm, RsaEncoding, VerificationAlgorithm,
};
use aws_lc_rs::{hmac, rsa};

use crate::error::AlgorithmError;
use crate::shown::shown;

/// A JWS signing algorithm. `none` is deliberately not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// ML-DSA-44 (FIPS 204, RFC 9964): post-quantum, NIST security category 2.
    MlDsa44,
    /// ML-DSA-65 (FIPS 204, RFC 9964): post-quantum, NIST security category 3.
    MlDsa65,
    /// ML-DSA-87 (FIPS 204, RFC 9964): post-quantum, NIST security category 5.
    MlDsa87,
}

/// The key family an algorithm belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// RSA (`RS*` and `PS*`).
    Rsa,
    /// ECDSA on a NIST curve.
    Ec,
    /// Edwards-curve signatures.
    Okp,
    /// HMAC with a shared secret.
    Hmac,
    /// ML-DSA, with JWK `kty` `AKP` (RFC 9964): the key is bound to one parameter set.
    Akp,
}

impl Algorithm {
    /// Every supported algorithm, asymmetric first.
    pub const ALL: [Algorithm; 16] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::MlDsa44,
        Algorithm::MlDsa65,
        Algorithm::MlDsa87,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The RFC 7518 name, as it appears in a header's `alg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::MlDsa44 => "ML-DSA-44",
            Algorithm::MlDsa65 => "ML-DSA-65",
            Algorithm::MlDsa87 => "ML-DSA-87",
        }
    }

    /// The key family this algorithm needs.
    pub fn family(self) -> Family {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => Family::Ec,
            Algorithm::EdDSA => Family::Okp,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => Family::Akp,
        }
    }

    /// True for the HMAC algorithms.
    pub fn is_symmetric(self) -> bool {
        self.family() == Family::Hmac
    }

    /// The JWK curve name an EC algorithm is bound to.
    pub(crate) fn curve(self) -> Option<&'static str> {
        match self {
            Algorithm::ES256 => Some("P-256"),
            Algorithm::ES384 => Some("P-384"),
            Algorithm::ES512 => Some("P-521"),
            Algorithm::EdDSA => Some("Ed25519"),
            _ => None,
        }
    }

    /// Length in bytes of an ECDSA coordinate / scalar for this algorithm's curve.
    pub(crate) fn ec_coordinate_len(self) -> usize {
        match self {
            Algorithm::ES384 => 48,
            Algorithm::ES512 => 66,
            _ => 32,
        }
    }

    /// Minimum HMAC key length: the hash output size (RFC 7518 section 3.2).
    pub(crate) fn hmac_min_key_len(self) -> usize {
        match self {
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 32,
        }
    }

    pub(crate) fn hmac(self) -> Option<hmac::Algorithm> {
        match self {
            Algorithm::HS256 => Some(hmac::HMAC_SHA256),
            Algorithm::HS384 => Some(hmac::HMAC_SHA384),
            Algorithm::HS512 => Some(hmac::HMAC_SHA512),
            _ => None,
        }
    }

    pub(crate) fn rsa_encoding(self) -> Option<&'static dyn RsaEncoding> {
        match self {
            Algorithm::RS256 => Some(&signature::RSA_PKCS1_SHA256),
            Algorithm::RS384 => Some(&signature::RSA_PKCS1_SHA384),
            Algorithm::RS512 => Some(&signature::RSA_PKCS1_SHA512),
            Algorithm::PS256 => Some(&signature::RSA_PSS_SHA256),
            Algorithm::PS384 => Some(&signature::RSA_PSS_SHA384),
            Algorithm::PS512 => Some(&signature::RSA_PSS_SHA512),
            _ => None,
        }
    }

    pub(crate) fn rsa_parameters(self) -> Option<&'static rsa::RsaParameters> {
        match self {
            Algorithm::RS256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
            _ => None,
        }
    }

    pub(crate) fn ecdsa_signing(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            Algorithm::ES512 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
            _ => None,
        }
    }

    /// The aws-lc-rs ML-DSA parameter set.
    pub(crate) fn ml_dsa_signing(self) -> Option<&'static PqdsaSigningAlgorithm> {
        match self {
            Algorithm::MlDsa44 => Some(&signature::ML_DSA_44_SIGNING),
            Algorithm::MlDsa65 => Some(&signature::ML_DSA_65_SIGNING),
            Algorithm::MlDsa87 => Some(&signature::ML_DSA_87_SIGNING),
            _ => None,
        }
    }

    /// The aws-lc-rs verification algorithm for the asymmetric algorithms.
    pub(crate) fn verification(self) -> Option<&'static dyn VerificationAlgorithm> {
        match self {
            Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED),
            Algorithm::ES512 => Some(&signature::ECDSA_P521_SHA512_FIXED),
            Algorithm::EdDSA => Some(&signature::ED25519),
            Algorithm::MlDsa44 => Some(&signature::ML_DSA_44),
            Algorithm::MlDsa65 => Some(&signature::ML_DSA_65),
            Algorithm::MlDsa87 => Some(&signature::ML_DSA_87),
            other => other
                .rsa_parameters()
                .map(|p| p as &'static dyn VerificationAlgorithm),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = AlgorithmError;

    /// Parses an RFC 7518 name exactly (names are case-sensitive), refusing `none` in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("none") {
            return Err(AlgorithmError::None);
        }
        Algorithm::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| AlgorithmError::Unsupported(shown(s).to_string()))
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_refused_in_every_case() {
        for s in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(s.parse::<Algorithm>(), Err(AlgorithmError::None));
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(
            "rs256".parse::<Algorithm>(),
            Err(AlgorithmError::Unsupported("rs256".into()))
        );
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
        }
    }
}
