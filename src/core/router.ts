import type { Answer } from './answer.ts';
import { BerthError } from './errors.ts';
import type { Inbound } from './inbound.ts';

export type Params = Record<string, string>;
/** A handler of web-standard Requests. */
export type Handler = (request: Request, params: Params, url: URL) => Answer | Promise<Answer>;
/** A handler of the request as it arrived (./inbound.ts): it never makes a web Request it does not need. */
export type InboundHandler = (inbound: Inbound, params: Params) => Promise<Answer>;

interface RouteBase {
  method: string;
  /** Segments separated by `/`; `:name` captures one percent-decoded segment. */
  pattern: string;
}
export type WebRoute = RouteBase & { handler: Handler; inbound?: undefined };
export type InboundRoute = RouteBase & { inbound: InboundHandler; handler?: undefined };
export type Route = WebRoute | InboundRoute;

/** A route matched to a request: what its handler is given, and the handler. */
export interface Matched {
  pattern: string;
  params: Params;
  /** Runs the route's handler on the request. */
  run(inbound: Inbound): Promise<Answer>;
}

interface Compiled {
  method: string;
  pattern: string;
  segments: string[];
  run: (inbound: Inbound, params: Params) => Promise<Answer>;
}

/**
 * A small method + path router. An unknown path is 404; a known path with another method is 405 with `Allow`.
 */
export class Router {
  readonly #routes: Compiled[] = [];

  add(...routes: Route[]): this {
    for (const route of routes) {
      const { handler } = route;
      const run = handler ? async (inbound: Inbound, params: Params) => handler(inbound.request, params, inbound.url) : route.inbound;
      this.#routes.push({ method: route.method, pattern: route.pattern, segments: route.pattern.split('/').filter(Boolean), run });
    }
    return this;
  }

  match(method: string, path: string): Matched {
    const parts = path.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method) return { params, pattern: route.pattern, run: (inbound) => route.run(inbound, params) };
      allowed.push(route.method);
    }
    if (allowed.length > 0) {
      throw new BerthError('method_not_allowed', `${method} is not allowed on ${path}; use ${allowed.join(' or ')}`, { details: { allow: allowed } });
    }
    throw new BerthError('not_found', `nothing at ${path}`);
  }
}

function matchSegments(pattern: string[], parts: string[]): Params | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] as string;
    const got = parts[i] as string;
    if (want.startsWith(':')) {
      try {
        params[want.slice(1)] = decodeURIComponent(got);
      } catch {
        return undefined;
      }
    } else if (want !== got) {
      return undefined;
    }
  }
  return params;
}
