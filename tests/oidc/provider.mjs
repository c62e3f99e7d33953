// A real OpenID Connect provider (the `oidc-provider` package) for LoopLens' sign-in browser test.
//
// Usage: node provider.mjs CONFIG.json
// CONFIG: {"port": 0, "client_id": "...", "client_secret": "...", "redirect_uri": "http://.../oauth2callback",
//          "users": {"ana": {"email": "...", "name": "...", "groups": ["..."]}, ...}}
// Listens on 127.0.0.1:<port> (0 = any free port) and prints one line `READY <issuer>` on stdout.
// Sign-in uses the package's development login form: the login is a key of "users" (an unknown
// login is refused); the password field is not checked. ID tokens carry the e-mail, name and
// groups claims (conformIdTokenClaims: false), which is what Streamlit's st.user shows.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = config.users;

const server = createServer();
await new Promise((resolve) => { server.listen(config.port ?? 0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    post_logout_redirect_uris: [config.redirect_uri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  conformIdTokenClaims: false,
  cookies: { keys: ['looplens-test-only-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const user = Object.hasOwn(users, id) ? users[id] : undefined;
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: user.email,
          email_verified: user.email_verified ?? true,
          name: user.name,
          groups: user.groups ?? [],
        };
      },
    };
  },
});
// The development pages link a web font from the internet; the test machine stays offline.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.body.includes('fonts.googleapis.com')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com[^)]*\);/g, '');
  }
});
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });
server.on('request', provider.callback());
console.log(`READY ${issuer}`);

const stop = () => { server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
