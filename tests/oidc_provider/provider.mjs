// A real OpenID provider for Dialtone's sign-in tests (tests/test_oidc*.py): the npm package
// oidc-provider with its development login and consent pages.
//
// usage: node provider.mjs <settings.json>
// settings.json: {"client_id", "client_secret", "redirect_uris": [...],
//                 "post_logout_redirect_uris": [...], "accounts_file": "<path>"}
// The accounts file ({"<login>": {"username", "email", "groups": [...]}}) is read again on every
// look-up, so a test can change a user's groups while the provider runs. Any password is accepted
// (the development login page): tests sign in by login name.
// Prints "LISTENING <issuer>" once it serves, on a free loopback port.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function accounts() {
  return JSON.parse(readFileSync(settings.accounts_file, 'utf8'));
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: settings.client_id,
      client_secret: settings.client_secret,
      redirect_uris: settings.redirect_uris,
      post_logout_redirect_uris: settings.post_logout_redirect_uris || [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    async findAccount(ctx, id) {
      const account = accounts()[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, preferred_username: account.username ?? id, email: account.email,
                   groups: account.groups ?? [] };
        },
      };
    },
    claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['dialtone-test-provider-only'] },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  console.log(`LISTENING ${issuer}`);
});
