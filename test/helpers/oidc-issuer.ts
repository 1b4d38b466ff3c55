import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * A real OIDC issuer on loopback for tests: a discovery document, a JWKS, and tokens signed with jose. `rotate()`
 * replaces the signing key, and the JWKS then holds only the new one.
 */
export class TestIssuer {
  readonly url: string;
  readonly discoveryUrl: string;
  readonly #server: Server;
  #key: SigningKey;
  #retired: Array<{ kid: string; privateKey: CryptoKey }> = [];
  jwksFetches = 0;

  private constructor(server: Server, url: string, key: SigningKey) {
    this.#server = server;
    this.url = url;
    this.discoveryUrl = `${url}/.well-known/openid-configuration`;
    this.#key = key;
  }

  static async start(): Promise<TestIssuer> {
    const key = await newKey(1);
    // The handler needs the issuer, which needs the server's port: it finds the issuer here once made.
    const made: { issuer?: TestIssuer } = {};
    const server = createServer((req, res) => {
      const issuer = made.issuer;
      if (!issuer) return void res.writeHead(503).end();
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: issuer.url, jwks_uri: `${issuer.url}/jwks`, token_endpoint: `${issuer.url}/token` }));
      } else if (req.url === '/jwks') {
        issuer.jwksFetches++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [issuer.#key.jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    made.issuer = new TestIssuer(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`, key);
    return made.issuer;
  }

  /** A token for `sub`, from `client_id`, for `aud`, with `scope`; `claims` override or add, `key: 'retired'` signs with the previous key. */
  async token(options: { sub?: string; client?: string; aud?: string; scope?: string; expiresIn?: string | number; notBefore?: string | number; claims?: Record<string, unknown>; key?: 'current' | 'retired'; issuer?: string }): Promise<string> {
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
