import { lazy } from './lazy-builtin.ts';
import { META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION, MODERN_VERSION } from '../mcp/classify.ts';
import { BERTH_CLIENT_INFO } from '../mcp/legacy.ts';
import { SseParser } from '../mcp/sse.ts';
import type { JsonRpcResponse } from '../mcp/jsonrpc.ts';

/**
 * Which revision a server speaks, found the way the specification suggests: send `server/discover`. A modern
 * server answers with a DiscoverResult naming 2026-07-28; a legacy one answers with an error, or not at all.
 */
export type Era = 'modern' | 'legacy';

const DISCOVER_PARAMS = {
  _meta: { [META_PROTOCOL_VERSION]: MODERN_VERSION, [META_CLIENT_CAPABILITIES]: {}, [META_CLIENT_INFO]: BERTH_CLIENT_INFO },
};

export function eraOf(response: JsonRpcResponse | undefined): Era {
  const versions = response?.result?.supportedVersions;
  return Array.isArray(versions) && versions.includes(MODERN_VERSION) ? 'modern' : 'legacy';
}

export async function probeStdio(
  call: (method: string, params: Record<string, unknown>, timeoutMs: number) => Promise<JsonRpcResponse>,
  timeoutMs: number,
): Promise<Era> {
  try {
    return eraOf(await call('server/discover', DISCOVER_PARAMS, timeoutMs));
  } catch {
    // Silence is a legacy server that ignores what it does not know.
    return 'legacy';
  }
}

export function probeHttp(host: string, port: number, path: string, timeoutMs: number): Promise<Era> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 'berth-discover-probe', method: 'server/discover', params: DISCOVER_PARAMS });
  return new Promise((resolve) => {
    const req = lazy('node:http').request(
      {
        host,
        port,
        path,
        method: 'POST',
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': MODERN_VERSION,
          'mcp-method': 'server/discover',
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) return resolve('legacy');
          const payload = String(res.headers['content-type'] ?? '').includes('text/event-stream')
            ? new SseParser()
                .push(`${text}\n\n`)
                .map((e) => e.data)
                .pop()
            : text;
          try {
            resolve(eraOf(JSON.parse(payload ?? '') as JsonRpcResponse));
          } catch {
            resolve('legacy');
          }
        });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve('legacy'));
    req.end(body);
  });
}
