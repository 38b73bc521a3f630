// The seed article's Node auth service, in substance: node-jose makes an RSA-2048 key,
// serves the key set at /.well-known/jwks.json, and signs RS256 tokens at POST
// /api/v1/auth. Env: JWKPORT. Used to check that Tessera's consumer accepts its tokens.
import express from 'express';
import jose from 'node-jose';

const keyStore = jose.JWK.createKeyStore();
await keyStore.generate('RSA', 2048, { alg: 'RS256', use: 'sig' });

const app = express();
app.use(express.json());
app.get('/.well-known/jwks.json', (req, res) => res.json(keyStore.toJSON()));
app.post('/api/v1/auth', async (req, res) => {
  const { userName, password } = req.body || {};
  if (userName !== 'Jane' || password !== 'pass123') return res.status(401).json({ message: 'bad credentials' });
  const [key] = keyStore.all({ use: 'sig' });
  const now = Math.floor(Date.now() / 1000);
  const payload = JSON.stringify({ exp: now + 1200, iat: now, sub: 'Jane', role: 'write', sessionId: 'seed-session' });
  const token = await jose.JWS.createSign({ compact: true, fields: { typ: 'jwt' } }, key).update(payload).final();
  res.json({ jwt: token });
});
app.listen(Number(process.env.JWKPORT || 3001), '127.0.0.1');
