//! Content encryption (RFC 7518 section 5): AES-GCM, and AES-CBC with HMAC-SHA-2 (5.2),
//! all through aws-lc-rs. The CBC-HMAC tag is checked, in constant time, before a single
//! block is decrypted.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey,
    UnboundCipherKey, AES_128, AES_256,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{constant_time, hmac};
use zeroize::Zeroizing;

use super::alg::ContentEncryption;
use super::JweError;

/// Ciphertext and tag.
pub(crate) struct Sealed {
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) tag: Vec<u8>,
}

fn crypto(_: aws_lc_rs::error::Unspecified) -> JweError {
    JweError::Decryption
}

/// Encrypts `plaintext` with `cek` and `iv`, authenticating `aad`.
pub(crate) fn seal(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, JweError> {
    check_lengths(enc, cek, iv)?;
    match enc {
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => {
            let key = gcm_key(enc, cek)?;
            let nonce = Nonce::try_assume_unique_for_key(iv).map_err(crypto)?;
            let mut ciphertext = plaintext.to_vec();
            let tag = key
                .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut ciphertext)
                .map_err(crypto)?;
            Ok(Sealed {
                ciphertext,
                tag: tag.as_ref().to_vec(),
            })
        }
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => {
            let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
            let key = PaddedBlockEncryptingKey::cbc_pkcs7(
                UnboundCipherKey::new(aes(enc), enc_key).map_err(crypto)?,
            )
            .map_err(crypto)?;
            let mut ciphertext = plaintext.to_vec();
            key.less_safe_encrypt(&mut ciphertext, EncryptionContext::Iv128(iv16(iv)?))
                .map_err(crypto)?;
            let tag = cbc_tag(enc, mac_key, aad, iv, &ciphertext);
            Ok(Sealed { ciphertext, tag })
        }
    }
}

/// Checks the tag and decrypts. The tag must be exactly the algorithm's length: a
/// truncated or extended tag is refused before any cryptography.
pub(crate) fn open(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    check_lengths(enc, cek, iv)?;
    if tag.len() != enc.tag_len() {
        return Err(JweError::TagLength {
            enc,
            expected: enc.tag_len(),
            found: tag.len(),
        });
    }
    match enc {
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => {
            let key = gcm_key(enc, cek)?;
            let nonce = Nonce::try_assume_unique_for_key(iv).map_err(crypto)?;
            let mut in_out = Zeroizing::new(Vec::with_capacity(ciphertext.len() + tag.len()));
            in_out.extend_from_slice(ciphertext);
            in_out.extend_from_slice(tag);
            let len = key
                .open_in_place(nonce, Aad::from(aad), &mut in_out)
                .map_err(crypto)?
                .len();
            in_out.truncate(len);
            Ok(in_out)
        }
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => {
            let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
            let expected = cbc_tag(enc, mac_key, aad, iv, ciphertext);
            // The MAC covers the IV and the ciphertext: nothing is decrypted (no padding
            // oracle) unless it matches.
            constant_time::verify_slices_are_equal(&expected, tag)
                .map_err(|_| JweError::Decryption)?;
            let key = PaddedBlockDecryptingKey::cbc_pkcs7(
                UnboundCipherKey::new(aes(enc), enc_key).map_err(crypto)?,
            )
            .map_err(crypto)?;
            let mut in_out = Zeroizing::new(ciphertext.to_vec());
            let len = key
                .decrypt(&mut in_out, DecryptionContext::Iv128(iv16(iv)?))
                .map_err(crypto)?
                .len();
            in_out.truncate(len);
            Ok(in_out)
        }
    }
}

fn check_lengths(enc: ContentEncryption, cek: &[u8], iv: &[u8]) -> Result<(), JweError> {
    if cek.len() != enc.key_len() {
        return Err(JweError::CekLength {
            enc,
            expected: enc.key_len(),
            found: cek.len(),
        });
    }
    if iv.len() != enc.iv_len() {
        return Err(JweError::IvLength {
            enc,
            expected: enc.iv_len(),
            found: iv.len(),
        });
    }
    Ok(())
}

fn gcm_key(enc: ContentEncryption, cek: &[u8]) -> Result<LessSafeKey, JweError> {
    let alg = match enc {
        ContentEncryption::A128Gcm => &aead::AES_128_GCM,
        _ => &aead::AES_256_GCM,
    };
    Ok(LessSafeKey::new(UnboundKey::new(alg, cek).map_err(crypto)?))
}

fn aes(enc: ContentEncryption) -> &'static aws_lc_rs::cipher::Algorithm {
    match enc {
        ContentEncryption::A128CbcHs256 => &AES_128,
        _ => &AES_256,
    }
}

fn iv16(iv: &[u8]) -> Result<FixedLength<16>, JweError> {
    let bytes: [u8; 16] = iv.try_into().map_err(|_| JweError::Decryption)?;
    Ok(FixedLength::from(bytes))
}

/// RFC 7518 section 5.2.2.1: HMAC over AAD || IV || ciphertext || AL (the AAD's length in
/// bits, 64-bit big-endian), truncated to the first half.
fn cbc_tag(
    enc: ContentEncryption,
    mac_key: &[u8],
    aad: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    let alg = match enc {
        ContentEncryption::A128CbcHs256 => hmac::HMAC_SHA256,
        _ => hmac::HMAC_SHA512,
    };
    let key = hmac::Key::new(alg, mac_key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(aad);
    ctx.update(iv);
    ctx.update(ciphertext);
    let bits = (aad.len() as u64).wrapping_mul(8);
    ctx.update(&bits.to_be_bytes());
    let full = ctx.sign();
    full.as_ref()[..enc.tag_len()].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let clean: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 7518 appendix B.1: AES_128_CBC_HMAC_SHA_256.
    #[test]
    fn rfc7518_b1_aes_128_cbc_hmac_sha_256() {
        let k = hex("00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f");
        let p = hex(B_PLAINTEXT);
        let iv = hex("1a f3 8c 2d c2 b9 6f fd d8 66 94 09 23 41 bc 04");
        let a = hex(B_AAD);
        let sealed = seal(ContentEncryption::A128CbcHs256, &k, &iv, &a, &p).unwrap();
        assert_eq!(
            sealed.ciphertext,
            hex("c8 0e df a3 2d df 39 d5 ef 00 c0 b4 68 83 42 79 a2 e4 6a 1b 80 49 f7 92 f7 6b fe 54 b9 03 a9 c9 a9 4a c9 b4 7a d2 65 5c 5f 10 f9 ae f7 14 27 e2 fc 6f 9b 3f 39 9a 22 14 89 f1 63 62 c7 03 23 36 09 d4 5a c6 98 64 e3 32 1c f8 29 35 ac 40 96 c8 6e 13 33 14 c5 40 19 e8 ca 79 80 df a4 b9 cf 1b 38 4c 48 6f 3a 54 c5 10 78 15 8e e5 d7 9d e5 9f bd 34 d8 48 b3 d6 95 50 a6 76 46 34 44 27 ad e5 4b 88 51 ff b5 98 f7 f8 00 74 b9 47 3c 82 e2 db")
        );
        assert_eq!(
            sealed.tag,
            hex("65 2c 3f a3 6b 0a 7c 5b 32 19 fa b3 a3 0b c1 c4")
        );
        let opened = open(
            ContentEncryption::A128CbcHs256,
            &k,
            &iv,
            &a,
            &sealed.ciphertext,
            &sealed.tag,
        )
        .unwrap();
        assert_eq!(&*opened, &p);
    }

    /// RFC 7518 appendix B.3: AES_256_CBC_HMAC_SHA_512.
    #[test]
    fn rfc7518_b3_aes_256_cbc_hmac_sha_512() {
        let k = hex("00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f");
        let p = hex(B_PLAINTEXT);
        let iv = hex("1a f3 8c 2d c2 b9 6f fd d8 66 94 09 23 41 bc 04");
        let a = hex(B_AAD);
        let sealed = seal(ContentEncryption::A256CbcHs512, &k, &iv, &a, &p).unwrap();
        assert_eq!(
            sealed.ciphertext,
            hex("4a ff aa ad b7 8c 31 c5 da 4b 1b 59 0d 10 ff bd 3d d8 d5 d3 02 42 35 26 91 2d a0 37 ec bc c7 bd 82 2c 30 1d d6 7c 37 3b cc b5 84 ad 3e 92 79 c2 e6 d1 2a 13 74 b7 7f 07 75 53 df 82 94 10 44 6b 36 eb d9 70 66 29 6a e6 42 7e a7 5c 2e 08 46 a1 1a 09 cc f5 37 0d c8 0b fe cb ad 28 c7 3f 09 b3 a3 b7 5e 66 2a 25 94 41 0a e4 96 b2 e2 e6 60 9e 31 e6 e0 2c c8 37 f0 53 d2 1f 37 ff 4f 51 95 0b be 26 38 d0 9d d7 a4 93 09 30 80 6d 07 03 b1 f6")
        );
        assert_eq!(
            sealed.tag,
            hex("4d d3 b4 c0 88 a7 f4 5c 21 68 39 64 5b 20 12 bf 2e 62 69 a8 c5 6a 81 6d bc 1b 26 77 61 95 5b c5")
        );
    }

    const B_PLAINTEXT: &str = "41 20 63 69 70 68 65 72 20 73 79 73 74 65 6d 20 6d 75 73 74 20 6e 6f 74 20 62 65 20 72 65 71 75 69 72 65 64 20 74 6f 20 62 65 20 73 65 63 72 65 74 2c 20 61 6e 64 20 69 74 20 6d 75 73 74 20 62 65 20 61 62 6c 65 20 74 6f 20 66 61 6c 6c 20 69 6e 74 6f 20 74 68 65 20 68 61 6e 64 73 20 6f 66 20 74 68 65 20 65 6e 65 6d 79 20 77 69 74 68 6f 75 74 20 69 6e 63 6f 6e 76 65 6e 69 65 6e 63 65";
    const B_AAD: &str = "54 68 65 20 73 65 63 6f 6e 64 20 70 72 69 6e 63 69 70 6c 65 20 6f 66 20 41 75 67 75 73 74 65 20 4b 65 72 63 6b 68 6f 66 66 73";

    #[test]
    fn cbc_tags_of_any_other_length_and_flipped_bits_are_refused() {
        let k = [7u8; 32];
        let iv = [1u8; 16];
        let sealed = seal(ContentEncryption::A128CbcHs256, &k, &iv, b"aad", b"secret").unwrap();
        for bad in [
            &sealed.tag[..15],
            &sealed.tag[..8],
            &[sealed.tag.as_slice(), &[0]].concat()[..],
        ] {
            assert!(matches!(
                open(
                    ContentEncryption::A128CbcHs256,
                    &k,
                    &iv,
                    b"aad",
                    &sealed.ciphertext,
                    bad
                ),
                Err(JweError::TagLength { expected: 16, .. })
            ));
        }
        let mut flipped = sealed.ciphertext.clone();
        flipped[0] ^= 1;
        assert_eq!(
            open(
                ContentEncryption::A128CbcHs256,
                &k,
                &iv,
                b"aad",
                &flipped,
                &sealed.tag
            )
            .unwrap_err(),
            JweError::Decryption
        );
        assert_eq!(
            open(
                ContentEncryption::A128CbcHs256,
                &k,
                &iv,
                b"other",
                &sealed.ciphertext,
                &sealed.tag
            )
            .unwrap_err(),
            JweError::Decryption
        );
    }

    #[test]
    fn gcm_tags_must_be_16_bytes() {
        let k = [7u8; 16];
        let iv = [1u8; 12];
        let sealed = seal(ContentEncryption::A128Gcm, &k, &iv, b"aad", b"secret").unwrap();
        for len in [0, 4, 12, 15] {
            assert!(matches!(
                open(ContentEncryption::A128Gcm, &k, &iv, b"aad", &sealed.ciphertext, &sealed.tag[..len]),
                Err(JweError::TagLength { expected: 16, found, .. }) if found == len
            ));
        }
        let opened = open(
            ContentEncryption::A128Gcm,
            &k,
            &iv,
            b"aad",
            &sealed.ciphertext,
            &sealed.tag,
        )
        .unwrap();
        assert_eq!(&*opened, b"secret");
    }
}
