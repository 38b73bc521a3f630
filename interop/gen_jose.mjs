#!/usr/bin/env node
// Generate a key and a signed JWT per algorithm with Node's `jose` package.
//
// Usage: node gen_jose.mjs [OUTDIR] [--split]
//
// Writes OUTDIR/fixtures.json (default: jose/tests/data/interop/node-jose) of the form
//
//   {"source": "node-jose", "generator": "...", "iss": ISS, "aud": AUD,
//    "tokens": {ALG: {"jwk": PUBLIC_JWK, "pem": SPKI_PEM, "token": JWT, "claims": {...}}}}
//
// where the JWK is the public key (for HS* the `oct` JWK, i.e. the secret) with `alg`, `use`
// and a `kid` that is jose's RFC 7638 SHA-256 thumbprint of the key, `pem` is present for
// the asymmetric algorithms only, and `claims` is exactly the payload that was signed.
// OUTDIR/jwks.json is the JWK Set of the asymmetric public keys. With --split, also
// OUTDIR/split/ALG.jwk, ALG.pem and ALG.jwt, one file each, for `tessera jwt verify --key`.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  generateSecret,
} from 'jose';

const ALGS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
  'HS256', 'HS384', 'HS512',
];
const ISS = 'https://issuer.node-jose.example';
const AUD = 'tessera-interop';
const EXP = 4102444800; // 2100-01-01T00:00:00Z

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const split = args.includes('--split');
const positional = args.filter((a) => !a.startsWith('--'));
const outdir = resolve(positional[0] ?? join(here, '../jose/tests/data/interop/node-jose'));
const joseVersion = JSON.parse(
  readFileSync(join(here, 'node_modules/jose/package.json'), 'utf8'),
).version;

const now = Math.floor(Date.now() / 1000);
const tokens = {};
const publicKeys = [];
for (const alg of ALGS) {
  let signingKey;
  let jwk;
  let pem;
  if (alg.startsWith('HS')) {
    signingKey = await generateSecret(alg, { extractable: true });
    jwk = await exportJWK(signingKey);
  } else {
    const options = { extractable: true };
    if (alg === 'EdDSA') options.crv = 'Ed25519';
    const { publicKey, privateKey } = await generateKeyPair(alg, options);
    signingKey = privateKey;
    jwk = await exportJWK(publicKey);
    pem = await exportSPKI(publicKey);
  }
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  jwk = { ...jwk, kid, alg, use: 'sig' };
  const claims = {
    iss: ISS,
    sub: `node-jose:${alg}`,
    aud: AUD,
    iat: now,
    nbf: now,
    exp: EXP,
    jti: randomBytes(8).toString('hex'),
    name: 'Zoë Ångström 日本',
    scope: 'read write',
    roles: ['reader', 'writer'],
    ctx: { tenant: 42, flags: [true, false, null] },
  };
  // SignJWT takes the payload as given; the setters below write the same values again so
  // that the builder API (what applications use) is the one exercised.
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(ISS)
    .setSubject(claims.sub)
    .setAudience(AUD)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(EXP)
    .setJti(claims.jti)
    .sign(signingKey);
  const entry = { jwk, token, claims };
  if (pem !== undefined) {
    entry.pem = pem;
    publicKeys.push(jwk);
  }
  tokens[alg] = entry;
}

const out = { source: 'node-jose', generator: `jose ${joseVersion}, Node ${process.version}`, iss: ISS, aud: AUD, tokens };
mkdirSync(outdir, { recursive: true });
writeFileSync(join(outdir, 'fixtures.json'), `${JSON.stringify(out, null, 2)}\n`);
writeFileSync(join(outdir, 'jwks.json'), `${JSON.stringify({ keys: publicKeys }, null, 2)}\n`);
if (split) {
  const dir = join(outdir, 'split');
  mkdirSync(dir, { recursive: true });
  for (const [alg, entry] of Object.entries(tokens)) {
    writeFileSync(join(dir, `${alg}.jwk`), `${JSON.stringify(entry.jwk, null, 2)}\n`);
    writeFileSync(join(dir, `${alg}.jwt`), `${entry.token}\n`);
    if (entry.pem !== undefined) writeFileSync(join(dir, `${alg}.pem`), entry.pem);
  }
}
console.error(`gen_jose: ${Object.keys(tokens).length} tokens (${out.generator}) -> ${outdir}`);
