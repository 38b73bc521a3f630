//! DPoP (RFC 9449) at the auth server: proofs at the token and login endpoints, and
//! DPoP-bound access tokens at the server's own protected endpoints (UserInfo, logout).
//! The rules themselves are [`tessera_contract::dpop`]'s, shared with every resource server.

use axum::http::HeaderMap;
use tessera_contract::dpop::{self, Expected, Nonces, Proof, ProofChecker, ProofError};
use tessera_contract::Scheme;
use tessera_jose::{Jwt, Shown};

use crate::api::verify_own;
use crate::error::ApiError;
use crate::AppState;

/// The DPoP policy of a server: the proof checker and, when configured, its nonces.
#[derive(Debug)]
pub(crate) struct Dpop {
    pub checker: ProofChecker,
    pub nonces: Option<Nonces>,
}

/// How long a server nonce is current: between this and twice this.
const NONCE_LIFETIME: u64 = 120;

impl Dpop {
    pub(crate) fn new(window: u64, nonce: bool, secret: &[u8]) -> Dpop {
        Dpop {
            checker: ProofChecker::new().window(window),
            nonces: nonce.then(|| Nonces::new(secret, NONCE_LIFETIME)),
        }
    }
}

/// The error for a refused proof: 400 `invalid_dpop_proof`, or `use_dpop_nonce` with a
/// fresh nonce in `DPoP-Nonce` (RFC 9449 sections 5 and 8).
fn refused(state: &AppState, e: &ProofError) -> ApiError {
    tracing::info!(reason = %Shown::full(&e.to_string()), "DPoP proof refused");
    ApiError::Dpop {
        code: e.error_code(),
        description: e.to_string(),
        nonce: current_nonce(state),
    }
}

/// A nonce to hand out now, when the server demands them.
pub(crate) fn current_nonce(state: &AppState) -> Option<String> {
    state
        .dpop
        .nonces
        .as_ref()
        .map(|n| n.issue(state.clock.unix_secs()))
}

/// The proof sent to a token-issuing endpoint at `path` (`POST`), checked: `None` when the
/// request has none (and none is needed), the proof otherwise. `bound` is the key an
/// earlier grant bound this one to (a refresh-token family, a code's `dpop_jkt`): a proof
/// by that key is then required. `required`: a client registered with `--require-dpop`.
pub(crate) fn token_request_proof(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    bound: Option<&str>,
    required: bool,
) -> Result<Option<Proof>, ApiError> {
    let proof = dpop::proof_header(headers).map_err(|e| refused(state, &e))?;
    let Some(proof) = proof else {
        if bound.is_some() || required {
            let why = if bound.is_some() {
                "this grant is bound to a DPoP key: send a proof by it"
            } else {
                "this client must send a DPoP proof"
            };
            tracing::info!(reason = why, "DPoP proof missing");
            return Err(ApiError::Dpop {
                code: "invalid_dpop_proof",
                description: why.into(),
                nonce: current_nonce(state),
            });
        }
        return Ok(None);
    };
    let htu = dpop::request_htu(&state.config.issuer, path)
        .map_err(|_| ApiError::Internal(crate::Error::Config("issuer is not a URL".into())))?;
    let mut expected = Expected::new("POST", &htu);
    if let Some(jkt) = bound {
        expected = expected.jkt(jkt);
    }
    if let Some(nonces) = &state.dpop.nonces {
        expected = expected.nonce(nonces);
    }
    state
        .dpop
        .checker
        .check(proof, &expected, state.clock.unix_secs())
        .map(Some)
        .map_err(|e| refused(state, &e))
}

/// The access token of a request to one of the server's own protected endpoints, verified:
/// a bearer token, or a DPoP-bound one with its proof for `method` and `path`. A bound token
/// sent as a bearer token is refused.
pub(crate) fn presented_token(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &HeaderMap,
) -> Result<Jwt, ApiError> {
    let (scheme, token) =
        tessera_contract::access_token(headers).map_err(|_| ApiError::InvalidToken)?;
    let jwt = verify_own(state, token).ok_or_else(|| invalid_token(headers))?;
    let jkt = jwt
        .claims()
        .get("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .and_then(|jkt| jkt.as_str());
    match (scheme, jkt) {
        (Scheme::Bearer, None) => Ok(jwt),
        (Scheme::Bearer, Some(_)) => {
            tracing::info!("DPoP-bound token sent as a bearer token");
            Err(ApiError::DpopToken("invalid_token"))
        }
        (Scheme::DPoP, None) => Err(ApiError::DpopToken("invalid_token")),
        (Scheme::DPoP, Some(jkt)) => {
            let proof = dpop::proof_header(headers)
                .ok()
                .flatten()
                .ok_or(ApiError::DpopToken("invalid_dpop_proof"))?;
            let htu = dpop::request_htu(&state.config.issuer, path)
                .map_err(|_| ApiError::DpopToken("invalid_dpop_proof"))?;
            let expected = Expected::new(method, &htu).access_token(token).jkt(jkt);
            match state
                .dpop
                .checker
                .check(proof, &expected, state.clock.unix_secs())
            {
                Ok(_) => Ok(jwt),
                Err(e) => {
                    tracing::info!(reason = %Shown::full(&e.to_string()), "DPoP proof refused");
                    Err(ApiError::DpopToken("invalid_dpop_proof"))
                }
            }
        }
    }
}

/// The refusal of a bad token in the scheme the request used (RFC 9449 section 7.1): a
/// `DPoP` challenge for `Authorization: DPoP`, a `Bearer` one otherwise.
pub(crate) fn invalid_token(headers: &HeaderMap) -> ApiError {
    if is_dpop_scheme(headers) {
        ApiError::DpopToken("invalid_token")
    } else {
        ApiError::InvalidToken
    }
}

/// Whether the request sent its token in the DPoP scheme.
pub(crate) fn is_dpop_scheme(headers: &HeaderMap) -> bool {
    matches!(
        tessera_contract::access_token(headers),
        Ok((Scheme::DPoP, _))
    )
}

/// Hands out the next nonce with a successful answer, when the server demands nonces.
pub(crate) fn add_nonce(state: &AppState, headers: &mut HeaderMap) {
    if let Some(nonce) = current_nonce(state).and_then(|n| n.parse().ok()) {
        headers.insert(dpop::NONCE_HEADER, nonce);
    }
}
