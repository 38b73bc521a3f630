// DPoP (RFC 9449) end to end with a real client library: oauth4webapi obtains a bound token
// from `tessera serve` (client credentials, through the server's nonce challenge) and calls
// the example consumer and the gateway with it; then, with proofs made by `jose`, each rule
// broken alone (after the OpenID conformance suite's DPoP negative tests) must be refused
// with 401 and a `WWW-Authenticate: DPoP` challenge, without reaching the upstream.
//
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET, CONSUMER (base URL), GATEWAY (base URL),
// COUNT_URL (the gateway upstream's request counter). Prints `ok ...` / `FAIL ...` lines.
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { createHash, randomBytes } from 'node:crypto';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback http only
const issuer = new URL(env('ISSUER'));
const client = { client_id: env('CLIENT_ID') };
const clientAuth = oauth.ClientSecretPost(env('CLIENT_SECRET'));

let failures = 0;
const check = (name, ok, detail = '') => {
  if (ok) console.log(`ok   ${name}`);
  else {
    failures += 1;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
};

const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
);
check('metadata lists dpop_signing_alg_values_supported',
  Array.isArray(as.dpop_signing_alg_values_supported) &&
  as.dpop_signing_alg_values_supported.includes('ES256'));

async function boundToken(keyPair) {
  const DPoP = oauth.DPoP(client, keyPair);
  const grant = () => oauth.clientCredentialsGrantRequest(
    as, client, clientAuth, new URLSearchParams({ scope: 'read' }), { DPoP, ...insecure });
  let nonceChallenged = false;
  try {
    return { result: await oauth.processClientCredentialsResponse(as, client, await grant()), nonceChallenged, DPoP };
  } catch (e) {
    // The server demands nonces: the library kept the one in DPoP-Nonce; retry once.
    if (!oauth.isDPoPNonceError(e)) throw e;
    nonceChallenged = true;
    return { result: await oauth.processClientCredentialsResponse(as, client, await grant()), nonceChallenged, DPoP };
  }
}

const keyPair = await oauth.generateKeyPair('ES256', { extractable: true });
const { result, nonceChallenged, DPoP } = await boundToken(keyPair);
check('the server demanded a nonce and the library answered it', nonceChallenged);
check('token_type is DPoP', result.token_type === 'dpop', result.token_type);
const token = result.access_token;
const publicJwk = await jose.exportJWK(keyPair.publicKey);
const claims = jose.decodeJwt(token);
check('the access token carries cnf.jkt = the key thumbprint',
  claims.cnf?.jkt === await jose.calculateJwkThumbprint(publicJwk, 'sha256'));

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const ath = (t) => b64url(createHash('sha256').update(t).digest());
const now = () => Math.floor(Date.now() / 1000);

/** A proof by `jose`, with any rule broken through `over`. */
async function proof(htu, over = {}) {
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk, ...over.header };
  const body = { htm: 'GET', htu, iat: now(), jti: b64url(randomBytes(16)), ath: ath(token), ...over.claims };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  if (over.hmac) {
    return new jose.SignJWT(body).setProtectedHeader({ ...header, alg: 'HS256', jwk: { kty: 'oct', k: b64url(randomBytes(32)) } })
      .sign(randomBytes(32));
  }
  return new jose.SignJWT(body).setProtectedHeader(header).sign(over.key ?? keyPair.privateKey);
}

async function call(url, scheme, dpopHeader, presented = token) {
  const headers = { authorization: `${scheme} ${presented}` };
  if (dpopHeader) headers.dpop = dpopHeader;
  const r = await fetch(url, { headers });
  return { status: r.status, challenge: r.headers.get('www-authenticate') ?? '' };
}

const upstreamCount = async () => (await (await fetch(env('COUNT_URL'))).json()).count;
const other = await jose.generateKeyPair('ES256', { extractable: true });
const otherJwk = await jose.exportJWK(other.publicKey);
const privateJwk = await jose.exportJWK(other.privateKey);

for (const [name, base] of [['consumer', env('CONSUMER')], ['gateway', env('GATEWAY')]]) {
  const path = name === 'consumer' ? '/api/v1/protected' : '/orders';
  const url = `${base}${path}`;
  // The library's own request.
  const response = await oauth.protectedResourceRequest(token, 'GET', new URL(url), new Headers(), null, { DPoP, ...insecure });
  check(`${name}: oauth4webapi's DPoP request is accepted`, response.status === 200, String(response.status));
  const before = name === 'gateway' ? await upstreamCount() : 0;

  const valid = await proof(url);
  check(`${name}: a valid jose proof is accepted`, (await call(url, 'DPoP', valid)).status === 200);
  const refusals = [
    ['the same proof again (replay)', 'DPoP', valid],
    ['the bound token as Bearer', 'Bearer', await proof(url)],
    ['no proof', 'DPoP', undefined],
    ['htm POST for a GET', 'DPoP', await proof(url, { claims: { htm: 'POST' } })],
    ['htu of another path', 'DPoP', await proof(`${base}/elsewhere`)],
    ['htu of another port', 'DPoP', await proof(url.replace(/:(\d+)\//, (_, p) => `:${Number(p) + 1}/`))],
    ['iat five minutes old', 'DPoP', await proof(url, { claims: { iat: now() - 300 } })],
    ['iat five minutes ahead', 'DPoP', await proof(url, { claims: { iat: now() + 300 } })],
    ['no ath', 'DPoP', await proof(url, { claims: { ath: undefined } })],
    ['ath of another token', 'DPoP', await proof(url, { claims: { ath: ath('another.token.here') } })],
    ['no jti', 'DPoP', await proof(url, { claims: { jti: undefined } })],
    ['typ JWT', 'DPoP', await proof(url, { header: { typ: 'JWT' } })],
    ['a private key in jwk', 'DPoP', await proof(url, { header: { jwk: privateJwk }, key: other.privateKey })],
    ['HS256 with an oct jwk', 'DPoP', await proof(url, { hmac: true })],
    ['a proof by another key', 'DPoP', await proof(url, { header: { jwk: otherJwk }, key: other.privateKey })],
    ['a signature that does not match the jwk', 'DPoP', await proof(url, { key: other.privateKey })],
  ];
  for (const [what, scheme, p] of refusals) {
    const { status, challenge } = await call(url, scheme, p);
    const expected = scheme === 'Bearer' ? 'invalid_token' : 'invalid_dpop_proof';
    check(`${name}: ${what} is refused (${expected})`,
      status === 401 && challenge.startsWith(`DPoP error="${expected}"`) && challenge.includes('algs="'),
      `${status} ${challenge}`);
  }
  // A token that fails (a forged signature) sent in the DPoP scheme with a valid proof for
  // it: invalid_token, in a DPoP challenge (RFC 9449 section 7.1), not a Bearer one.
  const at = token.length - 8;
  const forged = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
  const refusal = await call(url, 'DPoP', await proof(url, { claims: { ath: ath(forged) } }), forged);
  check(`${name}: a forged token with a valid proof is refused (invalid_token, DPoP scheme)`,
    refusal.status === 401 && refusal.challenge.startsWith('DPoP error="invalid_token"') && refusal.challenge.includes('algs="'),
    `${refusal.status} ${refusal.challenge}`);
  if (name === 'gateway') {
    check('gateway: no refused request reached the upstream', (await upstreamCount()) === before + 1,
      `${before} -> ${await upstreamCount()}`);
  }
}

process.exit(failures === 0 ? 0 : 1);
