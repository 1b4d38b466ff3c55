import { BerthError } from './errors.ts';

export type Params = Record<string, string>;
export type Handler = (request: Request, params: Params, url: URL) => Response | Promise<Response>;

export interface Route {
  method: string;
  /** Segments separated by `/`; `:name` captures one percent-decoded segment. */
  pattern: string;
  handler: Handler;
}

interface Compiled {
  method: string;
  pattern: string;
  segments: string[];
  handler: Handler;
}

/**
 * A small method + path router. An unknown path is 404; a known path with another method is 405 with `Allow`.
 */
export class Router {
  readonly #routes: Compiled[] = [];

  add(...routes: Route[]): this {
    for (const route of routes) {
      this.#routes.push({ method: route.method, pattern: route.pattern, segments: route.pattern.split('/').filter(Boolean), handler: route.handler });
    }
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: Params; pattern: string } {
    const parts = path.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method) return { handler: route.handler, params, pattern: route.pattern };
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
