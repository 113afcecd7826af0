// A real OpenID provider (panva/oidc-provider) for kubegate's tests. Test-only code.
//
// HTTPS on 127.0.0.1 only. Everything comes from the environment:
//   OIDC_PORT       port to listen on (0 or unset: any free port)
//   OIDC_TLS_CERT   PEM serving certificate (chain) path;  OIDC_TLS_KEY  its PEM key path
//   OIDC_JWKS       path of a *private* JWKS (RS256 / ES256 keys, each with a kid). The first
//                   usable key of an alg signs; keys with key_ops ["verify"] are only published.
//   OIDC_CLIENTS    JSON array of client metadata (client_id is the ID token's aud)
//   OIDC_ACCOUNTS   path of a JSON file {sub: {claim: value, ...}}, re-read on every lookup,
//                   so a test picks the claims of each token without a restart. Per-sub test
//                   knobs (never released as claims): "__alg" (ID token alg), "__ttl" (ID token
//                   lifetime, seconds), "__extra" (object of extra ID token claims).
//   OIDC_ID_TOKEN_TTL  default ID token lifetime in seconds (3600)
//   OIDC_EXIT_ON_STDIN_EOF=1  exit when stdin closes (the parent test process went away)
// Prints one JSON line on stdout, {"issuer": ..., "port": ...}, once it is listening.
// The library's warnings (e.g. "Unsupported runtime" on Node 20) go to stderr.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import process from 'node:process';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback === undefined) throw new Error(`${name} is required`);
    return fallback;
  }
  return value;
};

const jwks = JSON.parse(readFileSync(env('OIDC_JWKS'), 'utf8'));
const clients = JSON.parse(env('OIDC_CLIENTS'));
const accountsPath = env('OIDC_ACCOUNTS');
const defaultTtl = Number(env('OIDC_ID_TOKEN_TTL', '3600'));
const readAccounts = () => JSON.parse(readFileSync(accountsPath, 'utf8'));

process.on('SIGTERM', () => process.exit(0)); // not server.close(): keep-alive would hold the port
process.on('SIGINT', () => process.exit(0));
if (process.env.OIDC_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

const server = https.createServer({
  cert: readFileSync(env('OIDC_TLS_CERT')),
  key: readFileSync(env('OIDC_TLS_KEY')),
});
server.listen(Number(env('OIDC_PORT', '0')), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients,
    jwks,
    async findAccount(ctx, sub) {
      const accounts = readAccounts();
      const entry = accounts[sub] ?? {};
      return {
        accountId: sub,
        // Every knob travels with the claims; the mask releases only configured claim names.
        async claims() { return { ...entry, sub }; },
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      profile: ['name', 'preferred_username'],
    },
    conformIdTokenClaims: false,
    ttl: {
      IdToken: (ctx, token) => token?.available?.__ttl ?? defaultTtl,
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => false },
    features: {
      devInteractions: { enabled: true },
      ciba: {
        enabled: true,
        deliveryModes: ['poll'],
        processLoginHint: async (ctx, hint) => hint,
        verifyUserCode: async () => {},
        validateRequestContext: async () => {},
        // Approve at once: the "user" consents to exactly the requested scope.
        triggerAuthenticationDevice: async (ctx, request, account, client) => {
          const grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
          grant.addOIDCScope(request.scope);
          await grant.save();
          await provider.backchannelResult(request, grant);
        },
      },
    },
  });

  // Per-token alg and extra claims (test knobs "__alg" / "__extra" of the account): the
  // library fixes the alg per client and releases only configured claim names. The token
  // is still built, signed and kid-stamped by the library.
  const { issue } = provider.IdToken.prototype;
  provider.IdToken.prototype.issue = async function issueWithTestKnobs(options) {
    if (options?.use !== 'idtoken') return issue.call(this, options);
    const { __alg: alg, __extra: extra } = this.available ?? {};
    for (const [key, value] of Object.entries(extra ?? {})) this.set(key, value);
    if (!alg) return issue.call(this, options);
    const { client } = this;
    this.client = new Proxy(client, {
      get(target, prop) {
        if (prop === 'idTokenSignedResponseAlg') return alg;
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    try {
      return await issue.call(this, options);
    } finally {
      this.client = client;
    }
  };

  provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err?.stack ?? err}\n`));
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});
