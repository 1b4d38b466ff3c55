import { BerthError } from '../../core/errors.ts';
import type { ApiKeyService } from '../../control/api-keys.ts';
import type { WebRoute } from '../../core/router.ts';
import { readJsonObject } from '../../core/http.ts';

/**
 * The console signs in once with an admin key, which berth keeps in a cookie the page's scripts cannot read
 * (HttpOnly), that goes only to `/v1` (Path), only from berth's own pages (SameSite=Strict), and never in a URL. A
 * request it authenticates must also carry CONSOLE_HEADER: another site's page cannot send a custom header to berth
 * (its CORS preflight finds no permission), so it cannot borrow the cookie. The key is checked on every request as
 * a bearer key is, so a revoked key signs the console out at once, on every node of a cluster.
 */
export const CONSOLE_COOKIE = 'berth_console';
export const CONSOLE_HEADER = 'x-berth-console';
const MAX_AGE_SECONDS = 12 * 60 * 60;

/** The admin key a console request carries in its cookie, if it is a console request. */
export function consoleKey(headers: Pick<Headers, 'get'>): string | undefined {
  if (headers.get(CONSOLE_HEADER) === null) return undefined;
  for (const part of (headers.get('cookie') ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === CONSOLE_COOKIE) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** `POST /v1/console/session` signs in with `{ "key": "berth_…" }` (an admin key); `DELETE` signs out. */
export function consoleSessionRoutes(apiKeys: ApiKeyService): WebRoute[] {
  return [
    {
      method: 'POST',
      pattern: '/v1/console/session',
      handler: async (request, _params, url) => {
        if (request.headers.get(CONSOLE_HEADER) === null) throw new BerthError('forbidden', `the console signs in with the ${CONSOLE_HEADER} header`);
        const { key } = await readJsonObject(request);
        if (typeof key !== 'string' || !/^[A-Za-z0-9_\-.~]{1,512}$/.test(key)) throw new BerthError('validation_failed', 'give the admin key as "key"');
        const record = await apiKeys.verify(key);
        if (record === undefined) throw new BerthError('unauthorized', 'the admin key is unknown or was revoked');
        if (record.scope.kind !== 'admin') throw new BerthError('forbidden', "this key opens a runtime's sessions; the console takes an admin key");
        return new Response(null, { status: 204, headers: { 'set-cookie': cookie(key, MAX_AGE_SECONDS, url), 'cache-control': 'no-store' } });
      },
    },
    {
      method: 'DELETE',
      pattern: '/v1/console/session',
      handler: (_request, _params, url) => new Response(null, { status: 204, headers: { 'set-cookie': cookie('', 0, url) } }),
    },
  ];
}

function cookie(value: string, maxAge: number, url: URL): string {
  return `${CONSOLE_COOKIE}=${value}; Path=/v1; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${url.protocol === 'https:' ? '; Secure' : ''}`;
}
