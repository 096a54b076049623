// A relying party's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0
// §2.5–2.8), on panva's jose: it verifies each logout token against the provider's published
// keys, as a real RP must, and prints one JSON line per token. Arguments: the port to listen
// on, the issuer, the client id, and how many valid tokens to answer 500 first (to see the
// provider try again).
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [port, issuer, clientId, failFirst = '0'] = process.argv.slice(2);
const keys = createRemoteJWKSet(new URL(`${issuer}/oauth/jwks`));
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
let toFail = Number(failFirst);

async function verify(token) {
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer,
    audience: clientId,
    typ: 'logout+jwt',
    requiredClaims: ['iat', 'exp', 'jti', 'events'],
    maxTokenAge: '2 minutes',
  });
  // §2.6: the event, with an object as its value; a sid or a sub; never a nonce.
  if (typeof payload.events?.[EVENT] !== 'object') throw new Error('no back-channel logout event');
  if (!payload.sid && !payload.sub) throw new Error('neither sid nor sub');
  if ('nonce' in payload) throw new Error('a nonce: this is not a logout token');
  return { payload, alg: protectedHeader.alg };
}

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', async () => {
    const answer = (status, line) => {
      console.log(JSON.stringify({ status, ...line }));
      res.writeHead(status, { 'cache-control': 'no-store' }).end();
    };
    const type = req.headers['content-type'] ?? '';
    const token = new URLSearchParams(body).get('logout_token');
    if (req.method !== 'POST' || !type.startsWith('application/x-www-form-urlencoded') || !token) {
      return answer(400, { rejected: `${req.method} ${type}` });
    }
    try {
      const { payload, alg } = await verify(token);
      if (toFail > 0) {
        toFail -= 1;
        return answer(500, { failed_on_purpose: payload.jti });
      }
      answer(200, { verified: payload, alg });
    } catch (e) {
      answer(400, { rejected: String(e) });
    }
  });
});
server.listen(Number(port), '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
