// The authorization code flow against `tessera serve`, driven by openid-client (v6, a
// certified relying party), which validates the authorization response (state, RFC 9207
// iss), the ID token (signature from the JWKS, iss, aud, azp, nonce, exp, at_hash) and the
// UserInfo subject itself. Usage: node oidc_openid_client.mjs ISSUER CLIENT_ID SECRET
// REDIRECT_URI POST_LOGOUT_URI PUBLIC_CLIENT_ID PUBLIC_REDIRECT_URI [ENC_CLIENT_ID ENC_SECRET
// ENC_REDIRECT_URI ENC_PRIVATE_JWK_FILE] (a client registered with --encryption-key: its ID
// token comes encrypted, and openid-client decrypts it before validating it).
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import * as client from 'openid-client';
import { Browser, assert, check, signIn, summary } from './oidc_common.mjs';

const [issuer, clientId, secret, redirectUri, postLogoutUri, publicId, publicRedirect, encId, encSecret, encRedirect, encKeyFile] =
  process.argv.slice(2);
const insecure = { execute: [client.allowInsecureRequests] };
const config = await client.discovery(new URL(issuer), clientId, secret, undefined, insecure);
const browser = new Browser();
let tokens;
let refreshToken;

async function authorize(cfg, redirect, scope, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: redirect,
    scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    nonce,
    state,
    ...extra,
  });
  return { url, verifier, nonce, state };
}

await check('openid-client: sign in, code, tokens, ID token validated', async () => {
  const request = await authorize(config, redirectUri, 'openid profile email offline_access');
  const callback = await signIn(browser, request.url, 'Jane', 'pass123');
  tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: request.verifier,
    expectedNonce: request.nonce,
    expectedState: request.state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert(claims.preferred_username === 'Jane', `preferred_username ${claims.preferred_username}`);
  assert(claims.sub && claims.sub !== 'Jane', 'an opaque sub');
  assert(claims.sid, 'sid');
  assert(tokens.refresh_token, 'a refresh token for offline_access');
  refreshToken = tokens.refresh_token;
});

await check('openid-client: UserInfo for the same subject', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  assert(info.preferred_username === 'Jane', JSON.stringify(info));
});

await check('openid-client: the refresh token rotates', async () => {
  const refreshed = await client.refreshTokenGrant(config, refreshToken);
  assert(refreshed.access_token && refreshed.refresh_token !== refreshToken, 'rotated');
  refreshToken = refreshed.refresh_token;
});

await check('openid-client: a second authorization needs no login', async () => {
  const request = await authorize(config, redirectUri, 'openid profile');
  const response = await browser.get(request.url);
  assert(response.status === 303, `expected a redirect, got ${response.status}`);
  const again = await client.authorizationCodeGrant(config, new URL(response.headers.get('location')), {
    pkceCodeVerifier: request.verifier,
    expectedNonce: request.nonce,
    expectedState: request.state,
  });
  assert(again.claims().sub === tokens.claims().sub, 'same subject');
});

await check('openid-client: a tampered state is refused by the RP', async () => {
  const request = await authorize(config, redirectUri, 'openid');
  const response = await browser.get(request.url);
  const callback = new URL(response.headers.get('location'));
  let refused = false;
  try {
    await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: request.verifier,
      expectedNonce: request.nonce,
      expectedState: 'another-state',
    });
  } catch {
    refused = true;
  }
  assert(refused, 'state mismatch accepted');
});

await check('openid-client: a public client with PKCE only (token_endpoint_auth_method none)', async () => {
  const pub = await client.discovery(new URL(issuer), publicId, undefined, client.None(), insecure);
  const request = await authorize(pub, publicRedirect, 'openid');
  const callback = await signIn(browser, request.url, 'Jane', 'pass123');
  const t = await client.authorizationCodeGrant(pub, callback, {
    pkceCodeVerifier: request.verifier,
    expectedNonce: request.nonce,
    expectedState: request.state,
  });
  assert(t.claims().sub === tokens.claims().sub, 'same subject');
});

await check('openid-client: RP-initiated logout returns with state and ends the session', async () => {
  const url = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: postLogoutUri,
    state: 'bye-1',
  });
  const response = await browser.get(url);
  assert(response.status === 303, `status ${response.status}`);
  const back = new URL(response.headers.get('location'));
  assert(back.origin + back.pathname === postLogoutUri && back.searchParams.get('state') === 'bye-1', back.href);
  let refused = false;
  try {
    await client.refreshTokenGrant(config, refreshToken);
  } catch {
    refused = true;
  }
  assert(refused, "the ended session's refresh token still works");
});

if (encId) {
  await check('openid-client: an encrypted ID token (client add --encryption-key) is decrypted and validated', async () => {
    const cfg = await client.discovery(new URL(issuer), encId, encSecret, undefined, insecure);
    const jwk = JSON.parse(readFileSync(encKeyFile, 'utf8'));
    // The header names the key by kid (its thumbprint), so the RP's key carries it too.
    client.enableDecryptingResponses(cfg, ['A128CBC-HS256'], {
      key: await jose.importJWK(jwk, jwk.alg),
      kid: jwk.kid,
      alg: jwk.alg,
    });
    const request = await authorize(cfg, encRedirect, 'openid profile');
    const callback = await signIn(new Browser(), request.url, 'Jane', 'pass123');
    const t = await client.authorizationCodeGrant(cfg, callback, {
      pkceCodeVerifier: request.verifier,
      expectedNonce: request.nonce,
      expectedState: request.state,
      idTokenExpected: true,
    });
    assert(t.id_token.split('.').length === 5, 'the ID token on the wire is a JWE');
    const claims = t.claims();
    assert(claims.preferred_username === 'Jane', `preferred_username ${claims.preferred_username}`);
    assert(claims.aud === encId || (Array.isArray(claims.aud) && claims.aud.includes(encId)), 'aud');
  });
}

summary();
