// node oidc-provider issuing RFC 9068 JWT access tokens by client credentials, for heliogate's
// signing benchmark (bench/run.sh copies it beside the shared peer's node_modules and runs it
// there). The client and the wrk request are the shared peer's: bench / bench-secret, scope read.
//
//   ALG=ES256|RS256 NODE_ENV=production PORT=9001 node node-oidc-jwt.mjs
//
// Access tokens are JWTs when the token has a resource server whose format is `jwt`: every
// client-credentials request gets the one resource below by default (RFC 8707 resource
// indicators, the library's way to JWT access tokens).
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 9001);
const ALG = process.env.ALG || 'ES256';
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = 'https://api.example.org/';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const keys = [
  { ...rsa.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'rs' },
  { ...ec.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'es' },
];

const provider = new Provider(ISSUER, {
  clients: [
    {
      client_id: 'bench',
      client_secret: 'bench-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read write execute',
    },
  ],
  scopes: ['read', 'write', 'execute'],
  jwks: { keys },
  ttl: { ClientCredentials: 3600, AccessToken: 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: 'read write execute',
        audience: RESOURCE,
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: ALG } },
      }),
    },
  },
});
provider.proxy = false;

const server = provider.listen(PORT, '127.0.0.1', () => {
  console.log(`node-oidc-provider (JWT access tokens, ${ALG}) on ${ISSUER}, pid ${process.pid}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
