// node oidc-provider's authorization-code exchange with an ID token, for heliogate's signing
// benchmark (bench/run.sh copies it beside the shared peer's node_modules and runs it there):
// the same request heliogate gets — client_secret_basic, PKCE S256, scope `openid profile`, an
// opaque access token and an ID token signed ALG — each request redeeming its own code.
//
//   ALG=ES256|RS256 CODES=N OUT=DIR REDIRECT=URI VERIFIER=V NODE_ENV=production PORT=9001 \
//     node node-oidc-code.mjs
//
// Before it listens, it mints N codes (and N / 4 for a warm-up) through the provider's own models
// and adapter, as its authorization endpoint would after a sign-in and consent, and writes them
// to DIR/codes.run and DIR/codes.warm, one per line. The adapter is a plain map: the library's
// default memory adapter keeps only the last 1000 entries, which would evict the codes.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 9001);
const ALG = process.env.ALG || 'ES256';
const CODES = Number(process.env.CODES || 100000);
const OUT = process.env.OUT || '.';
const REDIRECT = process.env.REDIRECT || 'http://127.0.0.1:9/callback';
const VERIFIER = process.env.VERIFIER || 'bench-verifier-0123456789-0123456789-0123456789';
const ISSUER = `http://127.0.0.1:${PORT}`;
const CLIENT = 'bench-code';
const ACCOUNT = 'bench-user';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const keys = [
  { ...rsa.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'rs' },
  { ...ec.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'es' },
];

// Every model's records in one map; the grant index serves revocation of a replayed code's grant.
const records = new Map();
const byGrant = new Map();
class MapAdapter {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload) {
    records.set(this.key(id), payload);
    if (payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
      byGrant.get(payload.grantId).add(this.key(id));
    }
  }

  async find(id) {
    return records.get(this.key(id));
  }

  async findByUid(uid) {
    for (const [key, payload] of records) {
      if (key.startsWith(`${this.name}:`) && payload.uid === uid) return payload;
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, payload] of records) {
      if (key.startsWith(`${this.name}:`) && payload.userCode === userCode) return payload;
    }
    return undefined;
  }

  async consume(id) {
    const payload = records.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    records.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of byGrant.get(grantId) || []) records.delete(key);
    byGrant.delete(grantId);
  }
}

const provider = new Provider(ISSUER, {
  adapter: MapAdapter,
  clients: [
    {
      client_id: CLIENT,
      client_secret: 'bench-code-secret',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: ALG,
      scope: 'openid profile',
    },
  ],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  jwks: { keys },
  pkce: { required: () => true },
  ttl: { AuthorizationCode: 3600, Grant: 86400, AccessToken: 3600, IdToken: 3600 },
  features: { devInteractions: { enabled: false } },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, name: 'Bench User', preferred_username: sub }) }),
});
provider.proxy = false;

const client = await provider.Client.find(CLIENT);
const grant = new provider.Grant({ accountId: ACCOUNT, clientId: CLIENT });
grant.addOIDCScope('openid profile');
const grantId = await grant.save();
const challenge = createHash('sha256').update(VERIFIER).digest('base64url');
const authTime = Math.floor(Date.now() / 1000);
async function mint(count) {
  const codes = [];
  for (let i = 0; i < count; i += 1) {
    const code = new provider.AuthorizationCode({
      client,
      grantId,
      accountId: ACCOUNT,
      authTime,
      scope: 'openid profile',
      redirectUri: REDIRECT,
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      expiresIn: 3600,
    });
    codes.push(await code.save());
  }
  return codes;
}
writeFileSync(`${OUT}/codes.warm`, `${(await mint(Math.ceil(CODES / 4))).join('\n')}\n`);
writeFileSync(`${OUT}/codes.run`, `${(await mint(CODES)).join('\n')}\n`);

const server = provider.listen(PORT, '127.0.0.1', () => {
  console.log(`node-oidc-provider (code exchange, ID token ${ALG}) on ${ISSUER}, pid ${process.pid}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
