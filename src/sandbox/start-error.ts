import { BerthError, type ErrorCode } from '../core/errors.ts';
import type { SandboxSpec } from './driver.ts';
import type { OutputLog } from './output-log.ts';

/** Lines of the server's output an error carries: in its message, and in its details. */
const MESSAGE_LINES = 5;
const DETAIL_LINES = 20;
const LINE_CHARS = 300;

/**
 * A sandbox that did not start. Its message says why, what the server last wrote (its secrets hidden, as in its
 * log) and, for the usual mistakes, what to do; `output` is the whole log, which the session manager keeps so that
 * `berth logs` shows it for the ended session.
 */
export class SandboxStartError extends BerthError {
  readonly output: OutputLog;

  constructor(code: ErrorCode, why: string, spec: SandboxSpec, output: OutputLog) {
    const lines = output.tail(DETAIL_LINES).map((line) => (line.length > LINE_CHARS ? `${line.slice(0, LINE_CHARS)}…` : line));
    const hint = startHint(spec, why, lines);
    const shown = lines.slice(-MESSAGE_LINES);
    const message = `runtime "${spec.runtime}" ${why}.${hint ? ` ${hint}.` : ''}${shown.length > 0 ? ` Its last output:\n${shown.map((line) => `  ${line}`).join('\n')}` : ' It wrote nothing.'}`;
    super(code, message, { details: { runtime: spec.runtime, output: lines, ...(hint ? { hint } : {}) } });
    this.output = output;
  }
}

/** What a server that prints it is doing: serving HTTP on a port. */
const SERVES_HTTP =
  /listening on|running on (?:https?:|port|localhost)|started on|server (?:is )?(?:up|running) (?:at|on)|https?:\/\/(?:localhost|127\.0\.0\.1|0\.0\.0\.0)|\bport \d{2,5}\b/i;
/** What a server that prints it is doing: speaking MCP on its stdin and stdout. */
const SERVES_STDIO = /\bstdio\b|standard (?:input|output)/i;
/** A module the server could not load, named (Node's words, Python's), or unnamed. */
const MISSING_NAMED = /Cannot find (?:package|module) '([^']+)'|No module named '?([\w.]+)'?/;
const MISSING = /ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND|ModuleNotFoundError/;
const NEEDS_NETWORK = /\b(?:ENOTFOUND|EAI_AGAIN|ENETUNREACH|ECONNREFUSED)\b|getaddrinfo|network request .* failed|npm (?:ERR|error) network/i;
const DOWNLOADS = /^\s*(?:npx|pnpm dlx|bunx|uvx|pipx run|yarn dlx)\b|\bnpm (?:exec|install|i)\b|\bpip install\b/;

/**
 * The usual mistakes behind a failed start, recognized from the runtime's command and transport and what its
 * server wrote, and what to do about each. Undefined when nothing is recognized: the output speaks for itself.
 */
export function startHint(spec: Pick<SandboxSpec, 'command' | 'transport' | 'network'>, why: string, output: readonly string[]): string | undefined {
  const text = output.join('\n');
  const offline = (spec.network?.mode ?? 'none') === 'none';
  if (offline && (DOWNLOADS.test(spec.command) || NEEDS_NETWORK.test(text))) {
    return 'Hint: the sandbox has no network, so a command that downloads (npx -y, pip install) cannot work there: deploy a published server with `berth deploy npm:PACKAGE`, put its dependencies in the directory you deploy, or give the runtime egress (--allow HOST)';
  }
  const missing = MISSING_NAMED.exec(text);
  if (missing || MISSING.test(text)) {
    const name = missing?.[1] ?? missing?.[2];
    return `Hint: the server cannot find ${name ? `"${name}"` : 'a module it imports'}: the directory you deploy must hold its dependencies (run npm install there first, or bundle the server), or deploy a published server with \`berth deploy npm:PACKAGE\``;
  }
  if (spec.transport === 'stdio' && SERVES_HTTP.test(text)) {
    return 'Hint: its output says it serves HTTP, but the runtime is deployed with --transport stdio: deploy it with --transport http (and --port and --path where it listens)';
  }
  if (spec.transport === 'http' && /listen/.test(why) && SERVES_STDIO.test(text)) {
    return 'Hint: its output says it speaks MCP over stdio, but the runtime is deployed with --transport http: deploy it with --transport stdio';
  }
  return undefined;
}
