// A throwaway OpenID Connect provider for the browser tests (tests/browser/test_oidc_login.py). Test use only.
//
// oidc-provider with its development login pages: any login name and any password sign in, and the login name is
// the account's e-mail. Configuration comes from the environment the test fixture sets:
//   OP_PORT         port to listen on (127.0.0.1)
//   CLIENT_ID       the portal's client id
//   CLIENT_SECRET   its secret
//   REDIRECT_URI    http://127.0.0.1:<portal port>/oauth2callback (also the post-logout redirect)
//   GROUPS          JSON object: e-mail -> list of groups, sent as the `groups` claim
// It prints "ready <issuer>" on stdout once it listens.
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const groups = JSON.parse(process.env.GROUPS || '{}');

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    post_logout_redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  features: { devInteractions: { enabled: true } },
  // Streamlit reads only the ID token: put e-mail, name and groups in it, not only in /userinfo
  conformIdTokenClaims: false,
  claims: { openid: ['sub', 'groups'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, name: id.split('@')[0], groups: groups[id] || [] };
      },
    };
  },
  cookies: { keys: ['countersign-test-only-not-a-secret'] },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
});

// Streamlit asks for prompt=select_account, which this provider does not support: drop it rather than fail the
// login silently (a real IdP such as Entra ID or Google supports it)
provider.use(async (ctx, next) => {
  if (ctx.path === '/auth' && ctx.query.prompt) {
    const kept = String(ctx.query.prompt).split(' ').filter((p) => p !== 'select_account');
    const url = new URL(ctx.href);
    if (kept.length) url.searchParams.set('prompt', kept.join(' '));
    else url.searchParams.delete('prompt');
    ctx.url = url.pathname + url.search;
  }
  await next();
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
