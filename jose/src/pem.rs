//! PEM and DER import/export (PKCS#1, PKCS#8, SPKI, SEC1), OpenSSH public keys and
//! unencrypted OpenSSH private keys of every type (RSA included), all converted to and from
//! [`Jwk`]. DER structures are read with the RustCrypto `der` family;
//! every key is then checked by aws-lc-rs before it is used.

use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, UintRef};
use der::{Decode, Encode};
use pkcs8::PrivateKeyInfo;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use crate::error::{EncodingError, Error, KeyError};
use crate::jwk::{
    ec_params_from_pair, okp_params_from_pair, strip_leading_zeros, Curve, Jwk, KeyParams,
    RsaPrivate,
};
use crate::key::uncompressed_point;
use crate::shown::shown;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// The container to export a key in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// PKCS#8 `PRIVATE KEY` (any private key).
    Pkcs8,
    /// PKCS#1 `RSA PRIVATE KEY` or `RSA PUBLIC KEY` (RSA only).
    Pkcs1,
    /// SEC1 `EC PRIVATE KEY` (EC private keys only).
    Sec1,
    /// X.509 SubjectPublicKeyInfo `PUBLIC KEY` (any public key).
    Spki,
}

/// Reads a key in any supported text or binary form: a JWK (JSON), PEM (PKCS#1, PKCS#8,
/// SPKI, SEC1), an OpenSSH public key line (`ssh-rsa`, `ecdsa-sha2-*`, `ssh-ed25519`), or DER.
pub fn parse_key(bytes: &[u8]) -> Result<Jwk, Error> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            return Jwk::from_json(text);
        }
        if trimmed.starts_with("-----BEGIN") {
            return from_pem(text);
        }
        if trimmed.starts_with("ssh-") || trimmed.starts_with("ecdsa-sha2-") {
            return from_openssh(text);
        }
    }
    from_der(bytes)
}

/// Reads the first key in a PEM document (an `EC PARAMETERS` block before it is skipped).
pub fn from_pem(text: &str) -> Result<Jwk, Error> {
    let mut rest = text;
    loop {
        let Some(start) = rest.find("-----BEGIN ") else {
            return Err(EncodingError::NoPemBlock.into());
        };
        rest = &rest[start + 11..];
        let label_end = rest
            .find("-----")
            .ok_or(EncodingError::UnterminatedPemHeader)?;
        let label = &rest[..label_end];
        let end_marker = format!("-----END {label}-----");
        // The END line is looked for after the BEGIN line only: `-----BEGIN X-----END
        // X-----` has no body, rather than a body that ends before it starts.
        let body_start = label_end + 5;
        let body_end = rest
            .get(body_start..)
            .and_then(|after| after.find(&end_marker))
            .map(|at| at + body_start)
            .ok_or_else(|| EncodingError::MissingPemEnd {
                label: shown(label).to_string(),
            })?;
        let body = &rest[body_start..body_end];
        rest = &rest[body_end + end_marker.len()..];
        if label == "EC PARAMETERS" {
            continue;
        }
        if body.contains("Proc-Type:") || label == "ENCRYPTED PRIVATE KEY" {
            return Err(KeyError::Unsupported(
                "encrypted PEM; decrypt it first (for example `openssl pkcs8 -in KEY -out PLAIN`)"
                    .into(),
            )
            .into());
        }
        let b64: String = body.split_whitespace().collect();
        let der = Zeroizing::new(
            STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| EncodingError::Base64("PEM body"))?,
        );
        return match label {
            "PRIVATE KEY" => from_pkcs8(&der),
            "RSA PRIVATE KEY" => from_pkcs1_private(&der),
            "EC PRIVATE KEY" => from_sec1(&der),
            "PUBLIC KEY" => from_spki(&der),
            "RSA PUBLIC KEY" => from_pkcs1_public(&der),
            "OPENSSH PRIVATE KEY" => from_openssh_private(&der),
            other => Err(KeyError::Unsupported(format!("PEM block `{}`", shown(other))).into()),
        };
    }
}

/// Reads a DER key: PKCS#8, PKCS#1 or SEC1 private, then SPKI or PKCS#1 public.
pub fn from_der(der: &[u8]) -> Result<Jwk, Error> {
    from_pkcs8(der)
        .or_else(|_| from_pkcs1_private(der))
        .or_else(|_| from_sec1(der))
        .or_else(|_| from_spki(der))
        .or_else(|_| from_pkcs1_public(der))
        .map_err(|_| EncodingError::UnknownFormat.into())
}

fn from_pkcs8(der: &[u8]) -> Result<Jwk, Error> {
    let info = PrivateKeyInfo::from_der(der).map_err(der_err)?;
    let oid = info.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        from_pkcs1_private(info.private_key)
    } else if oid == EC_PUBLIC_KEY {
        let curve = curve_from_params(info.algorithm.parameters)?;
        let signing = curve
            .algorithm()
            .ecdsa_signing()
            .ok_or(Error::Crypto("curve"))?;
        let pair = EcdsaKeyPair::from_pkcs8(signing, der).map_err(rejected)?;
        Ok(Jwk::from_params(ec_params_from_pair(&pair, curve)?))
    } else if oid == ED25519 {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?;
        Ok(Jwk::from_params(okp_params_from_pair(&pair)?))
    } else {
        Err(KeyError::Unsupported(format!("PKCS#8 key algorithm {oid}")).into())
    }
}

fn from_pkcs1_private(der: &[u8]) -> Result<Jwk, Error> {
    let key = pkcs1::RsaPrivateKey::from_der(der).map_err(der_err)?;
    if key.other_prime_infos.is_some() {
        return Err(KeyError::Unsupported("multi-prime RSA".into()).into());
    }
    let secret = |u: UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
    Ok(Jwk::from_params(KeyParams::Rsa {
        n: key.modulus.as_bytes().to_vec(),
        e: key.public_exponent.as_bytes().to_vec(),
        private: Some(Box::new(RsaPrivate {
            d: secret(key.private_exponent),
            p: secret(key.prime1),
            q: secret(key.prime2),
            dp: secret(key.exponent1),
            dq: secret(key.exponent2),
            qi: secret(key.coefficient),
        })),
    }))
}

fn from_pkcs1_public(der: &[u8]) -> Result<Jwk, Error> {
    let key = pkcs1::RsaPublicKey::from_der(der).map_err(der_err)?;
    Ok(Jwk::from_params(KeyParams::Rsa {
        n: key.modulus.as_bytes().to_vec(),
        e: key.public_exponent.as_bytes().to_vec(),
        private: None,
    }))
}

fn from_sec1(der: &[u8]) -> Result<Jwk, Error> {
    let key = sec1::EcPrivateKey::from_der(der).map_err(der_err)?;
    let oid = key
        .parameters
        .and_then(|p| p.named_curve())
        .ok_or(EncodingError::MalformedKey(
            "SEC1 key does not name its curve",
        ))?;
    let curve = curve_from_oid(oid)?;
    let signing = curve
        .algorithm()
        .ecdsa_signing()
        .ok_or(Error::Crypto("curve"))?;
    let pair = EcdsaKeyPair::from_private_key_der(signing, der).map_err(rejected)?;
    Ok(Jwk::from_params(ec_params_from_pair(&pair, curve)?))
}

fn from_spki(der: &[u8]) -> Result<Jwk, Error> {
    let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(der_err)?;
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or(EncodingError::MalformedKey(
            "SPKI key is not a whole number of bytes",
        ))?;
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        from_pkcs1_public(key)
    } else if oid == EC_PUBLIC_KEY {
        let curve = curve_from_params(spki.algorithm.parameters)?;
        ec_public_from_point(curve, key)
    } else if oid == ED25519 {
        okp_public(key)
    } else {
        Err(KeyError::Unsupported(format!("public key algorithm {oid}")).into())
    }
}

fn ec_public_from_point(curve: Curve, point: &[u8]) -> Result<Jwk, Error> {
    let len = curve.coordinate_len();
    if point.len() != 1 + 2 * len || point[0] != 4 {
        return Err(KeyError::Unsupported(
            "EC public key is not an uncompressed point of its curve".into(),
        )
        .into());
    }
    Ok(Jwk::from_params(KeyParams::Ec {
        crv: curve,
        x: point[1..=len].to_vec(),
        y: point[1 + len..].to_vec(),
        d: None,
    }))
}

fn okp_public(x: &[u8]) -> Result<Jwk, Error> {
    if x.len() != 32 {
        return Err(EncodingError::MalformedKey("Ed25519 public key is not 32 bytes").into());
    }
    Ok(Jwk::from_params(KeyParams::Okp {
        x: x.to_vec(),
        d: None,
    }))
}

fn curve_from_params(params: Option<AnyRef<'_>>) -> Result<Curve, Error> {
    let oid = params
        .ok_or(EncodingError::MalformedKey(
            "EC key does not name its curve",
        ))?
        .decode_as::<ObjectIdentifier>()
        .map_err(|_| EncodingError::MalformedKey("EC key parameters are not a named curve"))?;
    curve_from_oid(oid)
}

fn curve_from_oid(oid: ObjectIdentifier) -> Result<Curve, Error> {
    match oid {
        o if o == P256 => Ok(Curve::P256),
        o if o == P384 => Ok(Curve::P384),
        o if o == P521 => Ok(Curve::P521),
        other => Err(KeyError::Unsupported(format!("EC curve {other}")).into()),
    }
}

fn curve_oid(curve: Curve) -> ObjectIdentifier {
    match curve {
        Curve::P256 => P256,
        Curve::P384 => P384,
        Curve::P521 => P521,
    }
}

/// Reads an OpenSSH public key line as written by `ssh-keygen` (`TYPE BASE64 [COMMENT]`).
pub fn from_openssh(text: &str) -> Result<Jwk, Error> {
    let mut fields = text.split_whitespace();
    let kind = fields.next().unwrap_or_default();
    let blob = fields
        .next()
        .ok_or_else(|| ssh_error("key line has no key data"))?;
    let blob = STANDARD
        .decode(blob.as_bytes())
        .map_err(|_| EncodingError::Base64("OpenSSH key data"))?;
    let mut reader = SshReader(&blob);
    let inner_kind = reader.string()?;
    if inner_kind != kind.as_bytes() {
        return Err(ssh_error("key type does not match its data"));
    }
    let jwk = match kind {
        "ssh-rsa" => {
            let e = strip_leading_zeros(reader.string()?).to_vec();
            let n = strip_leading_zeros(reader.string()?).to_vec();
            Jwk::from_params(KeyParams::Rsa {
                n,
                e,
                private: None,
            })
        }
        "ssh-ed25519" => okp_public(reader.string()?)?,
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let curve = match reader.string()? {
                b"nistp256" => Curve::P256,
                b"nistp384" => Curve::P384,
                b"nistp521" => Curve::P521,
                _ => return Err(ssh_error("ECDSA key names an unknown curve")),
            };
            ec_public_from_point(curve, reader.string()?)?
        }
        other => {
            return Err(
                KeyError::Unsupported(format!("OpenSSH key type `{}`", shown(other))).into(),
            )
        }
    };
    if !reader.0.is_empty() {
        return Err(ssh_error("key data has trailing bytes"));
    }
    Ok(jwk)
}

/// Reads an unencrypted `openssh-key-v1` private key (the format `ssh-keygen` writes by
/// default) holding an Ed25519, ECDSA or RSA key. Encrypted ones need the passphrase: they
/// get a hint instead.
fn from_openssh_private(blob: &[u8]) -> Result<Jwk, Error> {
    let convert =
        "convert it with `ssh-keygen -p -m pem -f FILE`, or create it with `ssh-keygen -m pem`";
    let body = blob
        .strip_prefix(b"openssh-key-v1\0")
        .ok_or_else(|| ssh_error("private key: bad magic"))?;
    let mut reader = SshReader(body);
    let cipher = reader.string()?;
    let kdf = reader.string()?;
    let _kdf_options = reader.string()?;
    if cipher != b"none" || kdf != b"none" {
        return Err(KeyError::Unsupported(format!(
            "encrypted OpenSSH private key; decrypt and {convert}"
        ))
        .into());
    }
    if reader.u32()? != 1 {
        return Err(KeyError::Unsupported("OpenSSH file with several keys".into()).into());
    }
    let _public = reader.string()?;
    let mut private = SshReader(reader.string()?);
    if private.u32()? != private.u32()? {
        return Err(ssh_error("private key: check numbers differ"));
    }
    let kind = private.string()?;
    let jwk = match kind {
        b"ssh-ed25519" => {
            let public = private.string()?;
            let secret = private.string()?;
            // The private field is seed || public key.
            if public.len() != 32 || secret.len() != 64 || &secret[32..] != public {
                return Err(ssh_error("Ed25519 key is malformed"));
            }
            let pair = Ed25519KeyPair::from_seed_and_public_key(&secret[..32], public)
                .map_err(rejected)?;
            Jwk::from_params(okp_params_from_pair(&pair)?)
        }
        b"ecdsa-sha2-nistp256" | b"ecdsa-sha2-nistp384" | b"ecdsa-sha2-nistp521" => {
            let curve = match private.string()? {
                b"nistp256" => Curve::P256,
                b"nistp384" => Curve::P384,
                b"nistp521" => Curve::P521,
                _ => return Err(ssh_error("ECDSA key names an unknown curve")),
            };
            let point = private.string()?;
            let scalar = strip_leading_zeros(private.string()?);
            let len = curve.coordinate_len();
            if scalar.len() > len {
                return Err(ssh_error("ECDSA private scalar is too long"));
            }
            let mut d = Zeroizing::new(vec![0u8; len]);
            d[len - scalar.len()..].copy_from_slice(scalar);
            let signing = curve
                .algorithm()
                .ecdsa_signing()
                .ok_or(Error::Crypto("curve"))?;
            let pair = EcdsaKeyPair::from_private_key_and_public_key(signing, &d, point)
                .map_err(rejected)?;
            Jwk::from_params(ec_params_from_pair(&pair, curve)?)
        }
        b"ssh-rsa" => openssh_rsa_private(&mut private)?,
        other => {
            return Err(KeyError::Unsupported(format!(
                "OpenSSH key type `{}`",
                shown(&String::from_utf8_lossy(other))
            ))
            .into())
        }
    };
    Ok(jwk)
}

/// The largest RSA modulus read from an OpenSSH file, in bits (as aws-lc-rs's limit): it
/// bounds the big-integer work below.
const MAX_RSA_BITS: usize = 8192;

/// The RSA fields of an OpenSSH private key: `n`, `e`, `d`, `iqmp`, `p`, `q` (PROTOCOL.key).
/// The format has no CRT exponents, which PKCS#1 and aws-lc-rs need: they are computed here,
/// `dp = d mod (p-1)` and `dq = d mod (q-1)`, with crypto-bigint's constant-time division (the
/// values are secret). The result is checked by aws-lc-rs as a whole key before it is returned,
/// so a file whose numbers do not belong together is refused here, not at first use.
fn openssh_rsa_private(fields: &mut SshReader<'_>) -> Result<Jwk, Error> {
    use crypto_bigint::{BoxedUint, NonZero};

    let n = strip_leading_zeros(fields.string()?).to_vec();
    let e = strip_leading_zeros(fields.string()?).to_vec();
    let d = Zeroizing::new(strip_leading_zeros(fields.string()?).to_vec());
    let qi = Zeroizing::new(strip_leading_zeros(fields.string()?).to_vec());
    let p = Zeroizing::new(strip_leading_zeros(fields.string()?).to_vec());
    let q = Zeroizing::new(strip_leading_zeros(fields.string()?).to_vec());
    if n.len() * 8 > MAX_RSA_BITS {
        return Err(KeyError::Unsupported(format!(
            "RSA keys over {MAX_RSA_BITS} bits (this one has {} bytes of modulus)",
            n.len()
        ))
        .into());
    }
    for (name, value) in [
        ("e", &e[..]),
        ("d", &d[..]),
        ("p", &p[..]),
        ("q", &q[..]),
        ("iqmp", &qi[..]),
    ] {
        if value.is_empty() || value.len() > n.len() {
            return Err(ssh_error(match name {
                "e" => "RSA exponent e is zero or too long",
                "d" => "RSA exponent d is zero or too long",
                "p" => "RSA prime p is zero or too long",
                "q" => "RSA prime q is zero or too long",
                _ => "RSA coefficient iqmp is zero or too long",
            }));
        }
    }
    // Every value fits the modulus' width, rounded up to whole limbs.
    let bits = u32::try_from(n.len() * 8).map_err(|_| ssh_error("RSA modulus is too long"))?;
    let number = |bytes: &[u8]| {
        BoxedUint::from_be_slice(bytes, bits)
            .map(Zeroizing::new)
            .map_err(|_| ssh_error("RSA value does not fit the modulus"))
    };
    let d_big = number(&d)?;
    let reduce = |prime: &[u8]| -> Result<Zeroizing<Vec<u8>>, Error> {
        // p - 1 moves straight into the divisor, which is wiped when dropped (a p - 1 of
        // zero, refused here, is the only value dropped unwiped).
        let minus_one = number(prime)?.wrapping_sub(BoxedUint::one());
        let divisor = Zeroizing::new(
            Option::<NonZero<BoxedUint>>::from(NonZero::new(minus_one))
                .ok_or_else(|| ssh_error("RSA prime is 1"))?,
        );
        let remainder = Zeroizing::new(d_big.rem(&*divisor));
        let bytes = Zeroizing::new(remainder.to_be_bytes().into_vec());
        Ok(Zeroizing::new(strip_leading_zeros(&bytes).to_vec()))
    };
    let dp = reduce(&p)?;
    let dq = reduce(&q)?;
    let jwk = Jwk::from_params(KeyParams::Rsa {
        n,
        e,
        private: Some(Box::new(RsaPrivate {
            d,
            p,
            q,
            dp,
            dq,
            qi,
        })),
    });
    crate::key::SigningKey::from_jwk(&jwk, None)?;
    Ok(jwk)
}

struct SshReader<'a>(&'a [u8]);

impl<'a> SshReader<'a> {
    fn u32(&mut self) -> Result<u32, Error> {
        let (n, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(EncodingError::OpenSsh("key data is truncated"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*n))
    }

    fn string(&mut self) -> Result<&'a [u8], Error> {
        let short = || EncodingError::OpenSsh("key data is truncated");
        let (len, rest) = self.0.split_first_chunk::<4>().ok_or_else(short)?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(short().into());
        }
        let (value, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(value)
    }
}

/// Exports a key as PEM in the given format.
pub fn to_pem(jwk: &Jwk, format: KeyFormat) -> Result<String, Error> {
    let der = Zeroizing::new(to_der(jwk, format)?);
    let label = match (format, jwk.is_private()) {
        (KeyFormat::Pkcs8, _) => "PRIVATE KEY",
        (KeyFormat::Pkcs1, true) => "RSA PRIVATE KEY",
        (KeyFormat::Pkcs1, false) => "RSA PUBLIC KEY",
        (KeyFormat::Sec1, _) => "EC PRIVATE KEY",
        (KeyFormat::Spki, _) => "PUBLIC KEY",
    };
    let body = Zeroizing::new(STANDARD.encode(&*der));
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    Ok(out)
}

/// Exports a key as DER in the given format. `Spki` takes the public half of a private key;
/// the private formats need a private key.
pub fn to_der(jwk: &Jwk, format: KeyFormat) -> Result<Vec<u8>, Error> {
    if matches!(jwk.params, KeyParams::Oct { .. }) {
        return Err(KeyError::Unsupported("symmetric keys have no PEM/DER form".into()).into());
    }
    if matches!(jwk.params, KeyParams::Akp { .. }) {
        return Err(KeyError::Unsupported(
            "PEM/DER export of ML-DSA keys; keep them as JWKs (RFC 9964)".into(),
        )
        .into());
    }
    match format {
        KeyFormat::Spki => spki_der(jwk),
        KeyFormat::Pkcs1 => match &jwk.params {
            KeyParams::Rsa {
                private: Some(_), ..
            } => pkcs1_private_der(jwk),
            KeyParams::Rsa {
                n,
                e,
                private: None,
            } => pkcs1::RsaPublicKey {
                modulus: uint(n)?,
                public_exponent: uint(e)?,
            }
            .to_der()
            .map_err(der_err),
            _ => Err(KeyError::Unsupported("PKCS#1 holds RSA keys only".into()).into()),
        },
        KeyFormat::Sec1 => match &jwk.params {
            KeyParams::Ec {
                crv,
                x,
                y,
                d: Some(d),
            } => {
                let point = uncompressed_point(x, y);
                sec1::EcPrivateKey {
                    private_key: d,
                    parameters: Some(sec1::EcParameters::NamedCurve(curve_oid(*crv))),
                    public_key: Some(&point),
                }
                .to_der()
                .map_err(der_err)
            }
            KeyParams::Ec { d: None, .. } => Err(KeyError::NotPrivate.into()),
            _ => Err(KeyError::Unsupported("SEC1 holds EC keys only".into()).into()),
        },
        KeyFormat::Pkcs8 => match &jwk.params {
            KeyParams::Rsa { .. } => {
                let inner = Zeroizing::new(pkcs1_private_der(jwk)?);
                PrivateKeyInfo::new(
                    AlgorithmIdentifierRef {
                        oid: RSA_ENCRYPTION,
                        parameters: Some(AnyRef::NULL),
                    },
                    &inner,
                )
                .to_der()
                .map_err(der_err)
            }
            KeyParams::Ec {
                crv,
                x,
                y,
                d: Some(d),
            } => {
                let signing = crv
                    .algorithm()
                    .ecdsa_signing()
                    .ok_or(Error::Crypto("curve"))?;
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    signing,
                    d,
                    &uncompressed_point(x, y),
                )
                .map_err(rejected)?;
                let doc = pair
                    .to_pkcs8v1()
                    .map_err(|_| Error::Crypto("PKCS#8 export"))?;
                Ok(doc.as_ref().to_vec())
            }
            KeyParams::Okp { x, d: Some(d) } => {
                let pair = Ed25519KeyPair::from_seed_and_public_key(d, x).map_err(rejected)?;
                let doc = pair
                    .to_pkcs8v1()
                    .map_err(|_| Error::Crypto("PKCS#8 export"))?;
                Ok(doc.as_ref().to_vec())
            }
            _ => Err(KeyError::NotPrivate.into()),
        },
    }
}

fn pkcs1_private_der(jwk: &Jwk) -> Result<Vec<u8>, Error> {
    let KeyParams::Rsa { n, e, private } = &jwk.params else {
        return Err(KeyError::Unsupported("PKCS#1 holds RSA keys only".into()).into());
    };
    let p = private.as_ref().ok_or(KeyError::NotPrivate)?;
    pkcs1::RsaPrivateKey {
        modulus: uint(n)?,
        public_exponent: uint(e)?,
        private_exponent: uint(&p.d)?,
        prime1: uint(&p.p)?,
        prime2: uint(&p.q)?,
        exponent1: uint(&p.dp)?,
        exponent2: uint(&p.dq)?,
        coefficient: uint(&p.qi)?,
        other_prime_infos: None,
    }
    .to_der()
    .map_err(der_err)
}

fn spki_der(jwk: &Jwk) -> Result<Vec<u8>, Error> {
    let (oid, params, key): (ObjectIdentifier, Option<AnyRef<'_>>, Vec<u8>) = match &jwk.params {
        KeyParams::Akp { .. } => {
            return Err(KeyError::Unsupported("SPKI export of ML-DSA keys".into()).into())
        }
        KeyParams::Rsa { n, e, .. } => (
            RSA_ENCRYPTION,
            Some(AnyRef::NULL),
            pkcs1::RsaPublicKey {
                modulus: uint(n)?,
                public_exponent: uint(e)?,
            }
            .to_der()
            .map_err(der_err)?,
        ),
        KeyParams::Ec { crv, x, y, .. } => {
            let oid = curve_oid(*crv);
            return SubjectPublicKeyInfoRef {
                algorithm: AlgorithmIdentifierRef {
                    oid: EC_PUBLIC_KEY,
                    parameters: Some(AnyRef::from(&oid)),
                },
                subject_public_key: BitStringRef::from_bytes(&uncompressed_point(x, y))
                    .map_err(der_err)?,
            }
            .to_der()
            .map_err(der_err);
        }
        KeyParams::Okp { x, .. } => (ED25519, None, x.clone()),
        KeyParams::X25519 { .. } => {
            return Err(
                KeyError::Unsupported("PEM export of X25519 keys; use the JWK".into()).into(),
            )
        }
        KeyParams::Oct { .. } => {
            return Err(KeyError::Unsupported("symmetric keys have no public form".into()).into())
        }
    };
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid,
            parameters: params,
        },
        subject_public_key: BitStringRef::from_bytes(&key).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

fn uint(bytes: &[u8]) -> Result<UintRef<'_>, Error> {
    UintRef::new(bytes).map_err(der_err)
}

fn ssh_error(what: &'static str) -> Error {
    EncodingError::OpenSsh(what).into()
}

fn der_err(e: der::Error) -> Error {
    EncodingError::Der(e.to_string()).into()
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> Error {
    KeyError::Rejected(e.to_string()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;

    #[test]
    fn every_format_round_trips() {
        for alg in [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::ES512,
            Algorithm::EdDSA,
        ] {
            let jwk = Jwk::generate(alg, None).unwrap();
            let public = crate::thumbprint(&jwk);
            let mut formats = vec![KeyFormat::Pkcs8, KeyFormat::Spki];
            match alg.family() {
                crate::Family::Rsa => formats.push(KeyFormat::Pkcs1),
                crate::Family::Ec => formats.push(KeyFormat::Sec1),
                _ => {}
            }
            for format in formats {
                let pem = to_pem(&jwk, format).unwrap();
                let back = from_pem(&pem).unwrap();
                assert_eq!(crate::thumbprint(&back), public, "{alg} {format:?}");
                assert_eq!(
                    back.is_private(),
                    format != KeyFormat::Spki,
                    "{alg} {format:?}"
                );
                if back.is_private() {
                    let mut back = back;
                    back.set_alg(alg).unwrap();
                    // The private half survived: it still signs for the same public key.
                    let signer = crate::SigningKey::from_jwk(&back, None).unwrap();
                    let sig = signer.sign(b"m").unwrap();
                    crate::VerifyingKey::from_jwk(&jwk.to_public())
                        .unwrap()
                        .verify(alg, b"m", &sig)
                        .unwrap();
                }
            }
        }
    }

    /// Found by the `key_import` fuzz target: the END marker overlapping the BEGIN line
    /// made the body slice run backwards and panic.
    #[test]
    fn end_marker_inside_the_begin_line_is_an_error_not_a_panic() {
        for text in [
            "-----BEGIN OPENSSH PRIVATE KEY-----END OPENSSH PRIVATE KEY-----\n",
            "-----BEGIN -----END -----",
            "-----BEGIN X-----",
        ] {
            assert!(matches!(from_pem(text), Err(Error::Encoding(_))), "{text}");
        }
    }

    #[test]
    fn malformed_openssh_private_key_is_an_error() {
        let err = from_pem(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
    }

    #[test]
    fn truncated_openssh_data_is_an_error() {
        let err = from_openssh("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB").unwrap_err();
        assert!(matches!(err, Error::Encoding(_)), "{err}");
    }

    /// Each kind of encoding problem is its own category, as found at its construction site.
    #[test]
    fn encoding_errors_say_which_category() {
        let category = |r: Result<Jwk, Error>| match r {
            Err(Error::Encoding(e)) => e,
            other => unreachable!("expected an encoding error, got {other:?}"),
        };
        assert_eq!(category(from_pem("no key here")), EncodingError::NoPemBlock);
        assert_eq!(
            category(from_pem("-----BEGIN PUBLIC KEY")),
            EncodingError::UnterminatedPemHeader
        );
        assert_eq!(
            category(from_pem("-----BEGIN EVIL\nKEY-----\nAAAA\n")),
            EncodingError::MissingPemEnd {
                label: "EVIL\\nKEY".into()
            }
        );
        assert_eq!(
            category(from_pem(
                "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"
            )),
            EncodingError::Base64("PEM body")
        );
        assert!(matches!(
            category(from_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            )),
            EncodingError::Der(_)
        ));
        assert_eq!(
            category(parse_key(&[0x30, 0x03, 0x02, 0x01, 0x01])),
            EncodingError::UnknownFormat
        );
        assert_eq!(
            category(from_openssh("ssh-ed25519 !!!!")),
            EncodingError::Base64("OpenSSH key data")
        );
        // The type, then a 32-byte key of which only 4 bytes are there.
        let mut blob = vec![0, 0, 0, 11];
        blob.extend(b"ssh-ed25519");
        blob.extend([0, 0, 0, 32, 1, 2, 3, 4]);
        let line = format!("ssh-ed25519 {}", STANDARD.encode(&blob));
        assert_eq!(
            category(from_openssh(&line)),
            EncodingError::OpenSsh("key data is truncated")
        );
        assert_eq!(
            category(okp_public(&[0; 31])),
            EncodingError::MalformedKey("Ed25519 public key is not 32 bytes")
        );
    }
}
