//! Reading a token without verifying it. Nothing here authenticates anything: use it to
//! inspect tokens (as `tessera jwt decode` does), never to make an access decision.

use serde_json::Value;

use crate::claims::Claims;
use crate::error::{Error, MalformedError, Part};
use crate::jws::Limits;
use crate::jwt::UnverifiedJwt;
use crate::{b64, json};

/// The claims of a token whose signature has **not** been checked.
pub fn insecure_claims<'a>(token: &'a UnverifiedJwt<'_>) -> &'a Claims {
    &token.claims
}

/// Decodes a token's header and payload as JSON for display, without verifying the
/// signature or judging the header: it shows even tokens that could never verify (such as
/// `alg: none`). The size, base64url and depth limits still apply.
pub fn decode_parts(token: &str) -> Result<(Value, Value), Error> {
    let limits = Limits::default();
    if token.len() > limits.max_token_len {
        return Err(MalformedError::TooLarge {
            size: token.len(),
            limit: limits.max_token_len,
        }
        .into());
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(MalformedError::PartCount(parts.len()).into());
    }
    let decode = |text: &str, part: Part| -> Result<Value, Error> {
        let bytes = b64::decode(text).ok_or(MalformedError::Base64(part))?;
        if json::depth(&bytes) > limits.max_depth {
            return Err(MalformedError::TooDeep {
                part,
                limit: limits.max_depth,
            }
            .into());
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            MalformedError::Json {
                part,
                reason: e.to_string(),
            }
            .into()
        })
    };
    Ok((
        decode(parts[0], Part::Header)?,
        decode(parts[1], Part::Payload)?,
    ))
}
