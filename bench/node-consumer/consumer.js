// The seed article's consumer service, as people run it: express, jsonwebtoken and
// jwks-rsa with algorithms: ['RS256']. Env: PORT, JWKS_SERVER.
const express = require('express');
const jwt = require('jsonwebtoken');
const jwksClient = require('jwks-rsa');

const client = jwksClient({ jwksUri: process.env.JWKS_SERVER, cache: true, rateLimit: true });
function getKey(header, callback) {
  client.getSigningKey(header.kid, (err, key) => {
    if (err) return callback(err);
    callback(null, key.getPublicKey());
  });
}

const app = express();
app.get('/api/v1/protected', (req, res) => {
  let token = req.headers.authorization || '';
  if (token.startsWith('Bearer ')) token = token.slice(7);
  jwt.verify(token, getKey, { algorithms: ['RS256'] }, (err, decoded) => {
    if (err) return res.status(401).json({ message: 'invalid token' });
    res.json({ message: 'Protected resource', user: decoded });
  });
});
app.listen(Number(process.env.PORT || 3002), '127.0.0.1');
