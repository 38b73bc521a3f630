// Verifies a token issued by `tessera serve` the way Node resource servers do:
//   1. the seed's consumer: jsonwebtoken + jwks-rsa with algorithms: [ALG]
//   2. jose's createRemoteJWKSet + jwtVerify
// Usage: node server_consumers.mjs JWKS_URL ISSUER AUDIENCE ALG TOKEN [--seed]
// Prints one "ok"/"FAIL" line per check; exits 1 on any failure.
import jsonwebtoken from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer, audience, alg, token, ...flags] = process.argv.slice(2);
let failed = 0;
const report = (ok, what, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ': ' + detail : ''}`);
  if (!ok) failed += 1;
};

if (flags.includes('--seed')) {
  // The seed article's consumer, unchanged in substance.
  const client = jwksRsa({ jwksUri: jwksUrl, cache: true, rateLimit: true });
  const getKey = (header, callback) => {
    client.getSigningKey(header.kid, (err, key) => {
      if (err) return callback(err);
      callback(null, key.getPublicKey());
    });
  };
  await new Promise((resolve) => {
    jsonwebtoken.verify(token, getKey, { algorithms: [alg], issuer, audience }, (err, claims) => {
      report(!err && claims.iss === issuer, `${alg} seed consumer (jsonwebtoken + jwks-rsa)`, err ? err.message : '');
      resolve();
    });
  });
  const tampered = token.split('.');
  tampered[1] = Buffer.from(JSON.stringify({ sub: 'admin', iss: issuer, aud: audience, exp: 4102444800 })).toString('base64url');
  await new Promise((resolve) => {
    jsonwebtoken.verify(tampered.join('.'), getKey, { algorithms: [alg] }, (err) => {
      report(!!err, `${alg} seed consumer refuses a tampered token`);
      resolve();
    });
  });
}

try {
  const JWKS = createRemoteJWKSet(new URL(jwksUrl));
  const { payload, protectedHeader } = await jwtVerify(token, JWKS, { issuer, audience, typ: 'at+jwt', algorithms: [alg] });
  report(protectedHeader.alg === alg && typeof payload.jti === 'string', `${alg} jose createRemoteJWKSet`);
} catch (e) {
  report(false, `${alg} jose createRemoteJWKSet`, e.message);
}
process.exit(failed ? 1 : 0);
