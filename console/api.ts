import type { RequestRecord } from '../src/core/request-record.ts';

/**
 * The console's one way to berth: `/v1`, as any client of the control API, its admin key in the HttpOnly cookie it
 * signed in with (the page never sees it), and the header that marks its requests as the console's.
 */
export const CONSOLE_HEADER = 'x-berth-console';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { [CONSOLE_HEADER]: '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(response.status, error?.code ?? 'error', error?.message ?? `berth answered ${response.status}`);
  }
  return parsed as T;
}

/** Every item of a `/v1` list, following `next` (a few pages at most in a console). */
export async function list<T>(path: string, field: string, query: Record<string, string> = {}): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined;
  for (let page = 0; page < 20; page++) {
    const params = new URLSearchParams({ ...query, limit: '500', ...(next === undefined ? {} : { next }) });
    const answer = await api<Record<string, unknown>>('GET', `${path}?${params}`);
    out.push(...((answer[field] as T[] | undefined) ?? []));
    next = answer.next as string | undefined;
    if (next === undefined) break;
  }
  return out;
}

export type { NodeView } from '../src/core/node-view.ts';

/**
 * A runtime as `/v1/runtimes` shows it (src/core/runtime-view.ts), its spec loosely: the spec's type is made from
 * schemas that reach Node's modules, which the browser's build does not type.
 */
export interface RuntimeView {
  name: string;
  latestVersion: number;
  updatedAt: string;
  liveSessions: number;
  spec: { command?: string; transport?: string; protocol?: string; network?: unknown; limits?: unknown };
  warmPool?: { size: number; ready: number; version: number };
}

export interface VersionView {
  version: number;
  createdAt: string;
  spec: Record<string, unknown>;
}

export interface EndpointView {
  name: string;
  version: number;
  description?: string;
  updatedAt?: string;
}

export interface LimitRecord {
  limit: string;
  effect: string;
  detail: string;
  count: number;
  firstAt: string;
  lastAt: string;
}

export type { RequestRecord } from '../src/core/request-record.ts';

export interface SessionView {
  id: string;
  runtime: string;
  version: number;
  principal: string;
  state: string;
  createdAt: string;
  lastActiveAt: string;
  inFlight: number;
  waitingForInput: number;
  busy: boolean;
  unclaimed: boolean;
  pid?: number;
  memoryBytes?: number;
  cpuSeconds?: number;
  limits: LimitRecord[];
  requestCount?: number;
  recentRequests?: RequestRecord[];
  node?: string;
  reason?: string;
}

export type { ApiKeyView as KeyView } from '../src/core/api-key-view.ts';

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '–';
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function ago(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}
