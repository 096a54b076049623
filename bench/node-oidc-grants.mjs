// node oidc-provider's grants of a signed-in user, for heliogate's benchmark (bench/run.sh copies
// it beside the shared peer's node_modules and runs it there), each request spending its own
// grant, as heliogate's rows do:
// - GRANT=code: the authorization-code exchange with an ID token — client_secret_basic, PKCE
//   S256, scope `openid profile`, an opaque access token and an ID token signed ALG;
// - GRANT=device: the device-code token request (RFC 8628 §3.4) of a public client, scope
//   `read`, for a device authorization the user has approved;
// - GRANT=dpop: client-credentials issuance (client_secret_basic, scope `read`) with DPoP
//   (RFC 9449) on and its nonces issued, as heliogate's are: a request with a proof gets a
//   DPoP-bound token. Nothing is minted; the proofs are made by bench/proofs.mjs.
//
//   GRANT=code|device|dpop ALG=ES256|RS256 CODES=N OUT=DIR REDIRECT=URI VERIFIER=V NODE_ENV=production \
//     PORT=9001 node node-oidc-grants.mjs
//
// Before it listens, it mints N codes (and N / 4 for a warm-up) through the provider's own models
// and adapter, as its authorization (or device verification) endpoint would after a sign-in and
// consent, and writes them to DIR/codes.run and DIR/codes.warm, one per line. The adapter is a
// plain map: the library's default memory adapter keeps only the last 1000 entries, which would
// evict the codes.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const GRANT = process.env.GRANT || 'code';
const PORT = Number(process.env.PORT || 9001);
const ALG = process.env.ALG || 'ES256';
const CODES = Number(process.env.CODES || 100000);
const OUT = process.env.OUT || '.';
const REDIRECT = process.env.REDIRECT || 'http://127.0.0.1:9/callback';
const VERIFIER = process.env.VERIFIER || 'bench-verifier-0123456789-0123456789-0123456789';
const ISSUER = `http://127.0.0.1:${PORT}`;
const CLIENT = 'bench-code';
const DEVICE = 'bench-device';
const SERVICE = 'bench-dpop';
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
    {
      client_id: DEVICE,
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
      token_endpoint_auth_method: 'none',
      scope: 'read',
    },
    {
      client_id: SERVICE,
      client_secret: 'bench-dpop-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read',
    },
  ],
  scopes: ['openid', 'offline_access', 'read'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  jwks: { keys },
  pkce: { required: () => true },
  ttl: {
    AuthorizationCode: 3600, DeviceCode: 3600, Grant: 86400, AccessToken: 3600, IdToken: 3600, ClientCredentials: 3600,
  },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    // Only for its own row, so that the other grants' requests run as they did without it.
    dPoP: GRANT === 'dpop' ? { enabled: true, nonceSecret: randomBytes(32) } : { enabled: false },
  },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, name: 'Bench User', preferred_username: sub }) }),
});
provider.proxy = false;

const authTime = Math.floor(Date.now() / 1000);
async function grantOf(clientId, scope) {
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId });
  grant.addOIDCScope(scope);
  return grant.save();
}

// A code, as the authorization endpoint leaves it after sign-in and consent.
const client = await provider.Client.find(CLIENT);
const codeGrant = await grantOf(CLIENT, 'openid profile');
const challenge = createHash('sha256').update(VERIFIER).digest('base64url');
const code = () => new provider.AuthorizationCode({
  client,
  grantId: codeGrant,
  accountId: ACCOUNT,
  authTime,
  scope: 'openid profile',
  redirectUri: REDIRECT,
  codeChallenge: challenge,
  codeChallengeMethod: 'S256',
  expiresIn: 3600,
});

// A device code, as the verification endpoint leaves it once the user has approved it.
const device = await provider.Client.find(DEVICE);
const deviceGrant = await grantOf(DEVICE, 'read');
let userCodes = 0;
const deviceCode = () => new provider.DeviceCode({
  client: device,
  grantId: deviceGrant,
  accountId: ACCOUNT,
  authTime,
  scope: 'read',
  params: { client_id: DEVICE, scope: 'read' },
  userCode: `BENCH${(userCodes += 1)}`,
  expiresIn: 3600,
});

const made = { code, device: deviceCode }[GRANT];
async function mint(count) {
  const codes = [];
  for (let i = 0; i < count; i += 1) codes.push(await made().save());
  return codes;
}
if (made) {
  writeFileSync(`${OUT}/codes.warm`, `${(await mint(Math.ceil(CODES / 4))).join('\n')}\n`);
  writeFileSync(`${OUT}/codes.run`, `${(await mint(CODES)).join('\n')}\n`);
}

const server = provider.listen(PORT, '127.0.0.1', () => {
  console.log(`node-oidc-provider (${GRANT} grant, ID token ${ALG}) on ${ISSUER}, pid ${process.pid}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
