// panva's node oidc-provider as the upstream identity provider heliogate signs users in
// through: one client (heliogate), its development sign-in and consent pages (any user name
// signs in), and claims for each user — e-mail, a preferred user name and groups, read from
// the JSON in argv[6] by user name.
// Usage: node upstream-idp.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI USERS_JSON
// Prints {"listening": PORT} once it takes requests.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri, usersJson] = process.argv.slice(2);
const users = JSON.parse(usersJson);
const issuer = `http://localhost:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const user = users[id] ?? { email: `${id}@idp.example`, email_verified: true, groups: [] };
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, ...user };
      },
    };
  },
});
// Development interactions warn on every start: not news here.
provider.on('server_error', (ctx, err) => console.error(err));
provider.listen(Number(port), () => {
  console.log(JSON.stringify({ listening: Number(port) }));
});
