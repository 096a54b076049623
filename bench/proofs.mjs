// DPoP proofs (RFC 9449) for bench/run.sh: one ES256 key, COUNT proofs of `POST URL` with the
// server's nonce (asked for first, as a client does), one per line.
//   node bench/proofs.mjs URL CLIENT_ID SECRET COUNT > PROOFS
const [url, clientId, secret, count] = process.argv.slice(2);
const { subtle } = globalThis.crypto;
const key = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
const { kty, crv, x, y } = await subtle.exportKey('jwk', key.publicKey);
const b64 = (data) => Buffer.from(data).toString('base64url');
const header = b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }));
async function proof(nonce) {
  const claims = { jti: b64(crypto.getRandomValues(new Uint8Array(16))), htm: 'POST', htu: url,
    iat: Math.floor(Date.now() / 1000), ...(nonce ? { nonce } : {}) };
  const input = `${header}.${b64(JSON.stringify(claims))}`;
  const signature = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, Buffer.from(input));
  return `${input}.${b64(signature)}`;
}
const first = await fetch(url, {
  method: 'POST',
  headers: { dpop: await proof(), authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials',
});
const nonce = first.headers.get('dpop-nonce');
if (!nonce) throw new Error(`no DPoP-Nonce: ${first.status} ${await first.text()}`);
const out = [];
for (let i = 0; i < Number(count); i++) out.push(await proof(nonce));
process.stdout.write(out.join('\n') + '\n');
