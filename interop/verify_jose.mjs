#!/usr/bin/env node
// Verify JWTs (signed by Tessera, or by anything else) with Node's `jose` package.
//
// Usage: node verify_jose.mjs TOKENFILE [--jwks JWKS_FILE]
//
// TOKENFILE is JSON in the shape the generators write:
//
//   {"iss": ISS, "aud": AUD,
//    "tokens": {ALG: {"token": JWT, "jwk": JWK?, "pem": SPKI_PEM?, "claims": {...}?}}}
//
// Every one of the 13 algorithms must be present. Each token is verified (signature, `exp`,
// `iat`, `nbf`, `iss`, `aud`) with every key source it has: the JWK Set given with --jwks
// (asymmetric algorithms; jose picks the key by `kid`, `alg` and `kty`), its own `jwk`, and
// its `pem`. The header `alg` must be ALG, and every member of `claims` must come back
// unchanged. A copy of the token with a different payload must fail with
// JWSSignatureVerificationFailed.
//
// Prints one line per check (`ok   ...` or `FAIL ...`) and exits 1 if any check failed.

import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { createLocalJWKSet, errors, importJWK, importSPKI, jwtVerify } from 'jose';

const ALGS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
  'HS256', 'HS384', 'HS512',
];

const args = process.argv.slice(2);
const jwksAt = args.indexOf('--jwks');
const jwksPath = jwksAt >= 0 ? args[jwksAt + 1] : undefined;
const tokenFile = args.filter((a, i) => !a.startsWith('--') && (jwksAt < 0 || i !== jwksAt + 1))[0];
if (tokenFile === undefined || (jwksAt >= 0 && jwksPath === undefined)) {
  console.error('usage: node verify_jose.mjs TOKENFILE [--jwks JWKS_FILE]');
  process.exit(2);
}

const manifest = JSON.parse(readFileSync(tokenFile, 'utf8'));
const { iss, aud, tokens } = manifest;
const source = manifest.source ?? manifest.generator ?? tokenFile;
const keySet = jwksPath ? createLocalJWKSet(JSON.parse(readFileSync(jwksPath, 'utf8'))) : undefined;

let passed = 0;
let failed = 0;
async function check(label, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${label}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${label}: ${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}`);
  }
}

function tampered(token) {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  claims.sub = 'mallory';
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

const options = (alg) => ({
  algorithms: [alg],
  issuer: iss,
  audience: aud,
  requiredClaims: ['exp', 'iat', 'iss', 'aud', 'sub'],
});

for (const alg of ALGS) {
  const entry = tokens[alg];
  if (entry === undefined) {
    failed += 1;
    console.log(`FAIL jose ${alg}: no token for it in ${tokenFile}`);
    continue;
  }
  const { token } = entry;
  const expected = entry.claims ?? {};
  const sources = [];
  if (keySet && !alg.startsWith('HS')) sources.push(['jwks', async () => keySet]);
  if (entry.jwk) sources.push(['jwk', () => importJWK(entry.jwk, alg)]);
  if (entry.pem) sources.push(['pem', () => importSPKI(entry.pem, alg)]);
  if (sources.length === 0) {
    failed += 1;
    console.log(`FAIL jose ${alg}: no key for it (give --jwks or a jwk)`);
    continue;
  }

  for (const [name, load] of sources) {
    await check(`jose  verifies ${alg.padEnd(5)} from ${source} (key: ${name})`, async () => {
      const { payload, protectedHeader } = await jwtVerify(token, await load(), options(alg));
      if (protectedHeader.alg !== alg) {
        throw new Error(`header alg is ${protectedHeader.alg}, expected ${alg}`);
      }
      for (const [claim, value] of Object.entries(expected)) {
        if (!isDeepStrictEqual(payload[claim], value)) {
          throw new Error(`claim ${claim} is ${JSON.stringify(payload[claim])}, expected ${JSON.stringify(value)}`);
        }
      }
    });
  }

  await check(`jose  rejects ${alg.padEnd(5)} from ${source} with a changed payload`, async () => {
    try {
      await jwtVerify(tampered(token), await sources[0][1](), options(alg));
    } catch (e) {
      if (e instanceof errors.JWSSignatureVerificationFailed) return;
      throw e;
    }
    throw new Error('a token with a changed payload verified');
  });
}

console.error(`verify_jose: ${passed} ok, ${failed} failed`);
process.exit(failed ? 1 : 0);
