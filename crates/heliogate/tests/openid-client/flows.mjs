// openid-client's device authorization (RFC 8628), pushed authorization request (RFC 9126),
// DPoP (RFC 9449) and token exchange (RFC 8693) flows against heliogate. Prints one JSON line per step; a step that
// needs a browser prints what to open and reads the callback URL on standard input.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const [flow, issuer, clientId, secret, redirectUri] = process.argv.slice(2);
const auth = secret && secret !== '-' ? client.ClientSecretPost(secret) : client.None();
const config = await client.discovery(new URL(issuer), clientId, undefined, auth, {
  execute: [client.allowInsecureRequests],
});
const say = (value) => console.log(JSON.stringify(value));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const callback = async () => new URL((await lines.next()).value);

async function codeFlow(build, options) {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = await build({
    redirect_uri: redirectUri,
    scope: 'openid read offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  });
  say({ authorize: url.href });
  return client.authorizationCodeGrant(
    config,
    await callback(),
    { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true },
    undefined,
    options,
  );
}

if (flow === 'device') {
  const started = await client.initiateDeviceAuthorization(config, { scope: 'openid read' });
  say({
    user_code: started.user_code,
    verification_uri: started.verification_uri,
    verification_uri_complete: started.verification_uri_complete,
    interval: started.interval,
  });
  const tokens = await client.pollDeviceAuthorizationGrant(config, started);
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  say({ token_type: tokens.token_type, scope: tokens.scope, sub: claims.sub, userinfo_sub: userinfo.sub });
} else if (flow === 'par') {
  const tokens = await codeFlow((params) => client.buildAuthorizationUrlWithPAR(config, params));
  say({ token_type: tokens.token_type, scope: tokens.scope, sub: tokens.claims().sub });
} else if (flow === 'dpop') {
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair());
  const tokens = await codeFlow(async (params) => client.buildAuthorizationUrl(config, params), { DPoP });
  const sub = tokens.claims().sub;
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  const tokeninfo = await client.fetchProtectedResource(
    config, refreshed.access_token, new URL(`${issuer}/oauth/tokeninfo`), 'GET', undefined, undefined, { DPoP });
  // The refresh token is bound to this client's key: another key cannot use it.
  const stranger = client.getDPoPHandle(config, await client.randomDPoPKeyPair());
  let strangerError = null;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: stranger });
  } catch (e) {
    strangerError = e.error ?? e.code ?? String(e);
  }
  say({
    token_type: tokens.token_type,
    refreshed_token_type: refreshed.token_type,
    userinfo_sub: userinfo.sub,
    tokeninfo_status: tokeninfo.status,
    tokeninfo: await tokeninfo.json(),
    stranger_error: strangerError,
    access_token: refreshed.access_token,
  });
} else if (flow === 'exchange') {
  // RFC 8693 with the library's generic grant: the subject token and the resource come after
  // the secret.
  const [subjectToken, resource] = process.argv.slice(6);
  const tokens = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    resource,
    scope: 'read',
  });
  say({
    token_type: tokens.token_type,
    issued_token_type: tokens.issued_token_type,
    scope: tokens.scope,
    refresh_token: tokens.refresh_token ?? null,
    access_token: tokens.access_token,
  });
} else {
  throw new Error(`unknown flow ${flow}`);
}
process.exit(0);
