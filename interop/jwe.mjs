// JWE interop peer: Node `jose` (see jwe.sh for the file protocol).
//
//   node jwe.mjs make DIR   keys of our own, and tokens encrypted to tessera's keys
//   node jwe.mjs check DIR  decrypt what tessera encrypted to our keys
//
// Prints `ok   ...` / `FAIL ...` lines.
import { readFileSync, writeFileSync } from 'node:fs';
import * as jose from 'jose';

const PEER = 'jose';
const ALGS = ['RSA-OAEP-256', 'RSA-OAEP', 'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW', 'A128KW', 'A256KW', 'dir',
  'PBES2-HS256+A128KW', 'PBES2-HS512+A256KW'];
const NESTED = ALGS.filter((alg) => !alg.startsWith('PBES2'));
const isPassword = (alg) => alg.startsWith('PBES2');
const ENCS = ['A128GCM', 'A256GCM', 'A128CBC-HS256', 'A256CBC-HS512'];
const CURVES = { 'ECDH-ES': 'X25519', 'ECDH-ES+A128KW': 'P-256', 'ECDH-ES+A256KW': 'P-521' };

const keyName = (alg, enc) => (alg === 'dir' ? `dir-${enc}` : alg);
const readJwk = (path) => JSON.parse(readFileSync(path, 'utf8'));
const write = (path, text) => writeFileSync(path, text);
const [mode, dir] = process.argv.slice(2);

async function importKey(jwk, alg) {
  return jose.importJWK(jwk, alg);
}

async function generate(alg, enc) {
  if (alg === 'dir') return { private: await jose.exportJWK(await jose.generateSecret(enc, { extractable: true })) };
  if (isPassword(alg)) return { private: { kty: 'oct', k: jose.base64url.encode(crypto.getRandomValues(new Uint8Array(18))) } };
  if (alg === 'A128KW' || alg === 'A256KW') return { private: await jose.exportJWK(await jose.generateSecret(alg, { extractable: true })) };
  const options = { extractable: true };
  if (alg.startsWith('ECDH')) options.crv = CURVES[alg];
  if (alg.startsWith('RSA')) options.modulusLength = 2048;
  const pair = await jose.generateKeyPair(alg, options);
  return { private: await jose.exportJWK(pair.privateKey), public: await jose.exportJWK(pair.publicKey) };
}

async function make() {
  const made = new Set();
  for (const alg of ALGS) {
    for (const enc of ENCS) {
      const name = keyName(alg, enc);
      if (!made.has(name)) {
        const keys = await generate(alg, enc);
        write(`${dir}/${PEER}.${name}.jwk`, JSON.stringify(keys.private));
        write(`${dir}/${PEER}.${name}.pub.jwk`, JSON.stringify(keys.public ?? keys.private));
        made.add(name);
      }
      const recipient = await importKey(readJwk(`${dir}/tessera.${name}.pub.jwk`), alg);
      const token = await new jose.CompactEncrypt(new TextEncoder().encode(`from ${PEER}: ${alg} ${enc}`))
        .setProtectedHeader({ alg, enc })
        .encrypt(recipient);
      write(`${dir}/${PEER}-to-tessera.${alg}.${enc}.jwe`, token);
    }
  }
  // Nested: signed with our ES256 key, then encrypted (cty JWT).
  const signer = await jose.generateKeyPair('ES256', { extractable: true });
  write(`${dir}/${PEER}.sig.pub.jwk`, JSON.stringify(await jose.exportJWK(signer.publicKey)));
  for (const alg of NESTED) {
    const inner = await new jose.SignJWT({ sub: PEER, alg_used: alg })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setExpirationTime('10m')
      .sign(signer.privateKey);
    const recipient = await importKey(readJwk(`${dir}/tessera.${keyName(alg, 'A256GCM')}.pub.jwk`), alg);
    const token = await new jose.CompactEncrypt(new TextEncoder().encode(inner))
      .setProtectedHeader({ alg, enc: 'A256GCM', cty: 'JWT' })
      .encrypt(recipient);
    write(`${dir}/${PEER}-nested.${alg}.jwe`, token);
  }
  console.log(`ok   ${PEER}: made keys and ${ALGS.length * ENCS.length} tokens for tessera`);
}

async function check() {
  for (const alg of ALGS) {
    for (const enc of ENCS) {
      const label = `${PEER} decrypts tessera's ${alg} ${enc}`;
      try {
        const token = readFileSync(`${dir}/tessera-to-${PEER}.${alg}.${enc}.jwe`, 'utf8').trim();
        const key = await importKey(readJwk(`${dir}/${PEER}.${keyName(alg, enc)}.jwk`), alg);
        const { plaintext, protectedHeader } = await jose.compactDecrypt(token, key, {
          keyManagementAlgorithms: [alg],
          contentEncryptionAlgorithms: [enc],
          maxPBES2Count: 1_000_000,
        });
        const text = new TextDecoder().decode(plaintext);
        if (text === `from tessera: ${alg} ${enc}` && protectedHeader.alg === alg) console.log(`ok   ${label}`);
        else console.log(`FAIL ${label}: ${text}`);
      } catch (e) {
        console.log(`FAIL ${label}: ${e.code ?? e.name}: ${e.message}`);
      }
    }
  }
  const signer = await importKey(readJwk(`${dir}/tessera.sig.pub.jwk`), 'ES256');
  for (const alg of NESTED) {
    const label = `${PEER} decrypts and verifies tessera's nested ${alg} token`;
    try {
      const token = readFileSync(`${dir}/tessera-nested-to-${PEER}.${alg}.jwe`, 'utf8').trim();
      const key = await importKey(readJwk(`${dir}/${PEER}.${keyName(alg, 'A256GCM')}.jwk`), alg);
      const { plaintext, protectedHeader } = await jose.compactDecrypt(token, key, { keyManagementAlgorithms: [alg] });
      const { payload } = await jose.jwtVerify(new TextDecoder().decode(plaintext), signer, { algorithms: ['ES256'] });
      if (protectedHeader.cty === 'JWT' && payload.sub === 'tessera') console.log(`ok   ${label}`);
      else console.log(`FAIL ${label}: cty ${protectedHeader.cty}, sub ${payload.sub}`);
    } catch (e) {
      console.log(`FAIL ${label}: ${e.code ?? e.name}: ${e.message}`);
    }
  }
}

// A nested access token from `tessera serve --encrypt-access-tokens`: decrypted with the
// resource server's key, then verified against the server's JWKS.
async function server(keyPath, issuer, token) {
  const label = "jose decrypts tessera serve's access token and verifies it with the JWKS";
  try {
    const jwk = readJwk(keyPath);
    const key = await importKey(jwk, jwk.alg);
    const { plaintext, protectedHeader } = await jose.compactDecrypt(token, key);
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader: inner } = await jose.jwtVerify(new TextDecoder().decode(plaintext), jwks, {
      issuer,
      audience: 'tessera',
      typ: 'at+jwt',
    });
    if (protectedHeader.cty === 'JWT' && payload.preferred_username === 'Jane') console.log(`ok   ${label} (${inner.alg})`);
    else console.log(`FAIL ${label}: ${JSON.stringify(payload)}`);
  } catch (e) {
    console.log(`FAIL ${label}: ${e.code ?? e.name}: ${e.message}`);
  }
}

if (mode === 'make') await make();
else if (mode === 'check') await check();
else await server(dir, process.argv[4], process.argv[5]);
