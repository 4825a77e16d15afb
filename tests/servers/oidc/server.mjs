// OpenID Connect / OAuth 2.0 provider for the end-to-end tests (oidc-provider 9, loopback only).
// Started by scripts/test-servers.sh; a test may start its own instance (own port, own keys) with
//   node server.mjs   and the environment below, e.g. to rotate signing keys without touching the shared one.
//
// Environment:
//   OIDC_PORT   listening port on 127.0.0.1 (default 19080); the issuer is http://127.0.0.1:<port>
//   OIDC_KEYS   comma-separated PEM private keys (RSA); the FIRST one signs, all are published in the JWKS
//               (restart with the order swapped to rotate)
//
// Accounts: the dev login form accepts any login name and any password. The login name is the account id
// (`sub`) and what introspection returns as `username` (Dovecot's oauth2 passdb reads it). `email` is the login
// itself when it contains '@', otherwise <login>@example.test. Groups: the parts of the local part after '+'
// (login `carol+admins+staff` -> groups ["admins", "staff"]).
//
// Clients (secrets are test-only values):
//   mailsig        confidential (client_secret_basic): authorization code + PKCE (S256, required),
//                  refresh_token (rotated on every use), client_credentials; ANY http or https loopback redirect
//                  URI and post-logout redirect URI (127.0.0.1, localhost or [::1], any port, any path).
//   mailsig-other  like mailsig, a second audience (tests for tokens issued to someone else).
//   dovecot        resource server: introspection only (RFC 7662 at /token/introspection).
// App mailboxes: a client-credentials token of `mailsig` is valid for the mailbox `mailsig-notifier` (introspection
//   returns it as `username`), as Exchange Online's service principal with an application access policy is: the
//   notifier's app-only SMTP XOAUTH2 login as that technical user.
// Dynamic client registration (RFC 7591, open) at /reg for anything else.
// Test hook: POST /test/revoke-grants (form field account=<login>) revokes that account's grants.
//
// Scopes: openid offline_access email profile groups mail short_ttl. With `short_ttl` in the grant, access and
// ID tokens live 5 s (expiry and refresh tests); otherwise access tokens live 1 h, client-credentials 10 min.
// Test hooks on the ID token, asked for by scope (a relying party under test lists them in its own scopes):
//   test_expired_id_token   the ID token expired a minute before it was issued
//   test_foreign_audience   the ID token's audience is another client (`someone-else`), correctly signed
// Sign-out: RP-initiated logout at /session/end (its confirmation form, then the post-logout redirect).
// Note: `offline_access` yields a refresh token only when the authorization request has prompt=consent.
import { readFileSync } from 'node:fs';
import { createPrivateKey, createHash } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 19080);
const issuer = `http://127.0.0.1:${port}`;
const keyFiles = (process.env.OIDC_KEYS || '').split(',').filter(Boolean);
if (keyFiles.length === 0) {
  console.error('OIDC_KEYS must name at least one PEM private key');
  process.exit(2);
}
const keys = keyFiles.map((file) => {
  const jwk = createPrivateKey(readFileSync(file)).export({ format: 'jwk' });
  const kid = createHash('sha256').update(jwk.n).digest('base64url').slice(0, 16); // stable kid per key
  return { ...jwk, kid, use: 'sig', alg: 'RS256' };
});

const emailOf = (login) => (login.includes('@') ? login : `${login}@example.test`);
const groupsOf = (login) => login.split('@')[0].split('+').slice(1).filter(Boolean);
const account = (sub) => ({
  accountId: sub,
  claims: async () => ({
    sub, email: emailOf(sub), email_verified: true, name: sub, groups: groupsOf(sub),
  }),
});

const appMailboxOf = { mailsig: 'mailsig-notifier' };

const loopbackClient = (id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  redirect_uris: ['http://127.0.0.1/cb'], // any loopback URI is accepted, see below
  post_logout_redirect_uris: ['http://127.0.0.1/'],
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const hasShortTtl = (scope) => String(scope || '').split(' ').includes('short_ttl');

const provider = new Provider(issuer, {
  clients: [
    loopbackClient('mailsig'),
    loopbackClient('mailsig-other'),
    {
      client_id: 'dovecot',
      client_secret: 'dovecot-secret',
      redirect_uris: [],
      grant_types: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys },
  cookies: { keys: ['test-cookie-key-not-secret'] },
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'],
  },
  scopes: [
    'openid', 'offline_access', 'email', 'profile', 'groups', 'mail', 'short_ttl',
    'test_expired_id_token', 'test_foreign_audience',
  ],
  findAccount: async (ctx, sub) => account(sub),
  // Copied into the opaque token and returned at the top level of introspection responses.
  extraTokenClaims: async (ctx, token) => {
    if (token.accountId) return { username: token.accountId, email: emailOf(token.accountId) };
    const mailbox = token.kind === 'ClientCredentials' ? appMailboxOf[token.clientId] : undefined;
    return mailbox ? { username: mailbox } : undefined;
  },
  pkce: { required: () => true },
  // Requested claims (email, groups, ...) also go into the ID token, as Entra and Google do.
  conformIdTokenClaims: false,
  rotateRefreshToken: true,
  ttl: {
    AccessToken: (ctx, token) => (token.scopes.has('short_ttl') ? 5 : 3600),
    IdToken: (ctx, token) => (hasShortTtl(ctx?.oidc?.entities?.Grant?.getOIDCScope?.())
      || hasShortTtl(ctx?.oidc?.params?.scope) ? 5 : 3600),
    ClientCredentials: 600,
  },
  features: {
    devInteractions: { enabled: true }, // plain HTML login and consent forms (test only)
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    registration: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
});

// The mailsig clients accept any http loopback redirect: each test chooses its own port and path.
const loopbackIds = new Set(['mailsig', 'mailsig-other']);
const isLoopback = (value) => {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol)
      && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  } catch {
    return false;
  }
};
const { redirectUriAllowed, postLogoutRedirectUriAllowed } = provider.Client.prototype;
provider.Client.prototype.redirectUriAllowed = function allowed(value) {
  return (loopbackIds.has(this.clientId) && isLoopback(value)) || redirectUriAllowed.call(this, value);
};
provider.Client.prototype.postLogoutRedirectUriAllowed = function allowed(value) {
  return (loopbackIds.has(this.clientId) && isLoopback(value))
    || postLogoutRedirectUriAllowed.call(this, value);
};

// ID-token hooks (see the header): an expired token, or one for another audience.
const { issue: issueIdToken } = provider.IdToken.prototype;
provider.IdToken.prototype.issue = async function issueWithHooks(options = {}) {
  const scopes = String(this.scope || '').split(' ');
  if (options.use === 'idtoken' && scopes.includes('test_expired_id_token')) {
    return issueIdToken.call(this, { ...options, expiresAt: Math.floor(Date.now() / 1000) - 60 });
  }
  if (options.use === 'idtoken' && scopes.includes('test_foreign_audience')) {
    const { client } = this;
    this.client = new Proxy(client, {
      get: (target, prop) => {
        if (prop === 'clientId') return 'someone-else';
        const value = target[prop];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    try {
      return await issueIdToken.call(this, options);
    } finally {
      this.client = client;
    }
  }
  return issueIdToken.call(this, options);
};

// Test hook: POST /test/revoke-grants with account=<login> ends every grant of that account (its
// access and refresh tokens stop working), as a user withdrawing consent or an admin disabling
// the account does. Grants are learnt from the tokens issued.
const grantsByAccount = new Map();
const remember = (token) => {
  if (token.accountId && token.grantId) {
    const grants = grantsByAccount.get(token.accountId) || new Set();
    grants.add(token.grantId);
    grantsByAccount.set(token.accountId, grants);
  }
};
provider.on('access_token.saved', remember);
provider.on('refresh_token.saved', remember);
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/test/revoke-grants') {
    return next();
  }
  let body = '';
  for await (const chunk of ctx.req) body += chunk;
  const account = new URLSearchParams(body).get('account') || '';
  const grants = [...(grantsByAccount.get(account) || [])];
  await Promise.all(grants.map((grantId) => Promise.all([
    provider.AccessToken.revokeByGrantId(grantId),
    provider.RefreshToken.revokeByGrantId(grantId),
    provider.AuthorizationCode.revokeByGrantId(grantId),
    provider.Grant.adapter.destroy(grantId),
  ])));
  grantsByAccount.delete(account);
  ctx.type = 'application/json';
  ctx.body = { revoked: grants.length };
  return undefined;
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
