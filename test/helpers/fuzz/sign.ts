/**
 * SigV4 for fuzzed AgentCore requests: a valid signature over exactly what is sent (so the handler behind the
 * signature check is reached with the mutated request), or a signature that no longer matches it.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { AWS_ENV, AWS_KEYS, Sha256 } from '../aws.ts';
import type { Random } from './random.ts';
import { bodyOf, type Draft } from './request.ts';

const signer = new SignatureV4({ credentials: AWS_KEYS, region: AWS_ENV.BERTH_AWS_REGION, service: 'bedrock-agentcore', sha256: Sha256 });

/** Signs `draft` as its `signing` says; a target no URL can hold goes unsigned. */
export async function sign(draft: Draft, host: string, random: Random): Promise<void> {
  if (draft.signing === undefined || draft.signing === 'none') return;
  let url: URL;
  try {
    url = new URL(`http://${host}${draft.target}`);
  } catch {
    draft.story.push('unsigned: the target is no URL');
    return;
  }
  // A header given twice is signed as the one value a server reads it as.
  const headers: Record<string, string> = {};
  for (const [name, value] of draft.headers) {
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  headers.host ??= host;
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const had = query[key];
    query[key] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  const body = bodyOf(draft);
  const at = draft.target.indexOf('?');
  const signed = await signer.sign({
    method: draft.method,
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: at === -1 ? draft.target : draft.target.slice(0, at),
    query,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  draft.headers = Object.entries(signed.headers as Record<string, string>);
  if (draft.signing === 'valid') return;
  const how = random.int(3);
  if (how === 0 && body !== undefined && body.length > 0) {
    const changed = Buffer.from(body);
    const flipped = random.int(changed.length);
    changed[flipped] = (changed[flipped] as number) ^ 1;
    draft.body = changed;
    draft.json = undefined;
    draft.story.push('forged: body changed after signing');
  } else if (how === 1) {
    draft.headers = draft.headers.map(([name, value]) => [name, name === 'authorization' ? value.replace(/.$/, (c) => (c === '0' ? '1' : '0')) : value]);
    draft.story.push('forged: signature changed');
  } else {
    draft.headers = draft.headers.map(([name, value]) => [name, name === 'x-amz-date' ? '20200101T000000Z' : value]);
    draft.story.push('forged: stale date');
  }
}
