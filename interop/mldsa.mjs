// ML-DSA (RFC 9964) against an independent implementation, @noble/post-quantum, both ways.
//
//   node mldsa.mjs make DIR     noble: for each of ML-DSA-44/65/87, a seed, the AKP JWKs
//                               (DIR/ALG.jwk private, DIR/ALG.pub.jwk public) and a compact JWS
//                               (DIR/ALG.jwt) over a JSON payload, signed by noble
//   node mldsa.mjs verify DIR   noble verifies DIR/ALG.tessera.jwt (made by `tessera jwt sign`)
//                               with the public key in DIR/ALG.tessera.pub.jwk; also checks
//                               that noble derives the same public key from the seed in
//                               DIR/ALG.tessera.jwk
// Prints `ok ...` / `FAIL ...` lines; exits 1 on any failure.
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ALGS = { 'ML-DSA-44': ml_dsa44, 'ML-DSA-65': ml_dsa65, 'ML-DSA-87': ml_dsa87 };
const b64 = (bytes) => Buffer.from(bytes).toString('base64url');
const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64url'));
const [mode, dir] = process.argv.slice(2);
let failures = 0;
const check = (name, ok, detail = '') => {
  if (ok) console.log(`ok   ${name}`);
  else {
    failures += 1;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
};

for (const [alg, dsa] of Object.entries(ALGS)) {
  if (mode === 'make') {
    const seed = new Uint8Array(randomBytes(32));
    const { publicKey, secretKey } = dsa.keygen(seed);
    const pub = { kty: 'AKP', alg, pub: b64(publicKey) };
    writeFileSync(join(dir, `${alg}.pub.jwk`), JSON.stringify(pub));
    writeFileSync(join(dir, `${alg}.jwk`), JSON.stringify({ ...pub, priv: b64(seed) }));
    const header = b64(Buffer.from(JSON.stringify({ alg, typ: 'JWT' })));
    const payload = b64(Buffer.from(JSON.stringify({ sub: 'noble', iss: 'noble', exp: 4102444800 })));
    const input = `${header}.${payload}`;
    // Pure ML-DSA with an empty context, as RFC 9964 says.
    const sig = dsa.sign(new TextEncoder().encode(input), secretKey);
    writeFileSync(join(dir, `${alg}.jwt`), `${input}.${b64(sig)}`);
    check(`noble made an ${alg} key and token`, true);
  } else if (mode === 'verify') {
    const token = readFileSync(join(dir, `${alg}.tessera.jwt`), 'utf8').trim();
    const pub = JSON.parse(readFileSync(join(dir, `${alg}.tessera.pub.jwk`), 'utf8'));
    const priv = JSON.parse(readFileSync(join(dir, `${alg}.tessera.jwk`), 'utf8'));
    const [h, p, s] = token.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    check(`${alg}: tessera's header names the algorithm`, header.alg === alg, header.alg);
    const ok = dsa.verify(unb64(s), new TextEncoder().encode(`${h}.${p}`), unb64(pub.pub));
    check(`${alg}: noble verifies tessera's token`, ok);
    const tampered = dsa.verify(unb64(s), new TextEncoder().encode(`${h}.${p}x`), unb64(pub.pub));
    check(`${alg}: noble refuses it with the payload changed`, !tampered);
    const derived = dsa.keygen(unb64(priv.priv)).publicKey;
    check(`${alg}: noble derives tessera's pub from tessera's priv seed`, b64(derived) === pub.pub);
  } else {
    throw new Error('usage: node mldsa.mjs make|verify DIR');
  }
}
process.exit(failures === 0 ? 0 : 1);
