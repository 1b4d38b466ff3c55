import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** How a test issuer misbehaves, for tests of what berth does with an issuer it should not trust. */
export interface IssuerOptions {
  /** The loopback address it listens on (default 127.0.0.1); Linux answers all of 127/8. */
  host?: string;
  /** Rewrites its discovery document (another issuer, a jwks_uri elsewhere). */
  document?: (document: Record<string, unknown>) => Record<string, unknown>;
  /** Answers its discovery URL with a 302 to this URL instead of the document. */
  redirectDiscoveryTo?: string;
}

/**
 * A real OIDC issuer on loopback for tests: a discovery document, a JWKS, tokens signed with jose, and a token
 * endpoint that grants client credentials (client_secret_basic) to the clients `addClient` registers. `rotate()`
 * replaces the signing key, and the JWKS then holds only the new one. It counts what it is asked, so a test can
 * tell what berth fetched; `discoveryStatus` set to another status makes its discovery URL answer that.
 */
export class TestIssuer {
  readonly url: string;
  readonly discoveryUrl: string;
  readonly #server: Server;
  #key: SigningKey;
  #retired: Array<{ kid: string; privateKey: CryptoKey }> = [];
  jwksFetches = 0;
  discoveryFetches = 0;
  /** Every request it answered, of any path. */
  requests = 0;
  discoveryStatus = 200;
  /** Every token request's form, in order. */
  readonly tokenRequests: Array<Record<string, string>> = [];
  readonly #clients = new Map<string, string>();

  private constructor(server: Server, url: string, key: SigningKey) {
    this.#server = server;
    this.url = url;
    this.discoveryUrl = `${url}/.well-known/openid-configuration`;
    this.#key = key;
  }

  static async start(options: IssuerOptions = {}): Promise<TestIssuer> {
    const key = await newKey(1);
    const host = options.host ?? '127.0.0.1';
    // The handler needs the issuer, which needs the server's port: it finds the issuer here once made.
    const made: { issuer?: TestIssuer } = {};
    const server = createServer((req, res) => {
      const issuer = made.issuer;
      if (!issuer) return void res.writeHead(503).end();
      issuer.requests++;
      if (req.url === '/.well-known/openid-configuration') {
        issuer.discoveryFetches++;
        if (options.redirectDiscoveryTo) return void res.writeHead(302, { location: options.redirectDiscoveryTo }).end();
        if (issuer.discoveryStatus !== 200) return void res.writeHead(issuer.discoveryStatus).end();
        const document = issuer.#discovery();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.document ? options.document(document) : document));
      } else if (req.url === '/token' && req.method === 'POST') {
        let form = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (form += chunk));
        req.on('end', () => {
          void issuer
            .#grant(req.headers.authorization, new URLSearchParams(form))
            .then(([status, body]) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
        });
      } else if (req.url === '/jwks') {
        issuer.jwksFetches++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [issuer.#key.jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    made.issuer = new TestIssuer(server, `http://${host}:${(server.address() as { port: number }).port}`, key);
    return made.issuer;
  }

  /** A token for `sub`, from `client_id`, for `aud`, with `scope`; `claims` override or add, `key: 'retired'` signs with the previous key. */
  async token(options: {
    sub?: string;
    client?: string;
    aud?: string;
    scope?: string;
    expiresIn?: string | number;
    notBefore?: string | number;
    claims?: Record<string, unknown>;
    key?: 'current' | 'retired';
    issuer?: string;
  }): Promise<string> {
    const signer = options.key === 'retired' ? this.#retired.at(-1) : this.#key;
    if (!signer) throw new Error('no retired key yet');
    const jwt = new SignJWT({ client_id: options.client ?? 'client-a', scope: options.scope ?? 'mcp:call', ...options.claims })
      .setProtectedHeader({ alg: 'RS256', kid: signer.kid })
      .setIssuer(options.issuer ?? this.url)
      .setSubject(options.sub ?? 'alice')
      .setAudience(options.aud ?? 'berth-test')
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m');
    if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
    return jwt.sign(signer.privateKey);
  }

  /** Lets `id` get tokens for itself with `secret` (client credentials, HTTP Basic). */
  addClient(id: string, secret: string): void {
    this.#clients.set(id, secret);
  }

  #discovery(): Record<string, unknown> {
    return {
      issuer: this.url,
      authorization_endpoint: `${this.url}/authorize`,
      token_endpoint: `${this.url}/token`,
      jwks_uri: `${this.url}/jwks`,
      response_types_supported: ['code'],
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    };
  }

  /** A client-credentials grant: the token is the client's own (sub), for the resource asked for (aud). */
  async #grant(authorization: string | undefined, form: URLSearchParams): Promise<[number, Record<string, unknown>]> {
    this.tokenRequests.push(Object.fromEntries(form));
    const [id, secret] = Buffer.from(/^Basic (.+)$/.exec(authorization ?? '')?.[1] ?? '', 'base64')
      .toString()
      .split(':');
    if (id === undefined || this.#clients.get(id) !== secret) return [401, { error: 'invalid_client' }];
    if (form.get('grant_type') !== 'client_credentials') return [400, { error: 'unsupported_grant_type' }];
    const scope = form.get('scope') ?? '';
    const token = await this.token({ sub: id, client: id, aud: form.get('resource') ?? 'berth-test', scope });
    return [200, { access_token: token, token_type: 'Bearer', expires_in: 300, scope }];
  }

  async rotate(): Promise<void> {
    this.#retired.push(this.#key);
    this.#key = await newKey(this.#retired.length + 1);
  }

  close(): void {
    this.#server.close();
  }
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(n: number): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const kid = `key-${n}`;
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}
