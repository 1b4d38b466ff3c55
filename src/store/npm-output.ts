import { BerthError } from '../core/errors.ts';
import { specArgument, type NpmSpec } from './npm-package.ts';

/** The most of npm's output berth keeps: the tail, where npm says why it failed. */
const KEPT_BYTES = 64 * 1024;
/** Lines of npm's output a failure's message carries. */
const SHOWN_LINES = 12;

/** The last KEPT_BYTES of what a process writes, however much it writes. */
export class OutputTail {
  #chunks: Buffer[] = [];
  #bytes = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes - (this.#chunks[0]?.length ?? 0) >= KEPT_BYTES) this.#bytes -= (this.#chunks.shift() as Buffer).length;
  }

  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - KEPT_BYTES)).toString('utf8');
  }
}

/** How an npm run that did not succeed ended. */
export interface NpmEnd {
  /** npm's exit code, or null when a signal ended it. */
  code: number | null;
  /** Why berth ended it, if it did. */
  stopped?: 'timeout' | 'aborted';
  timeoutMs: number;
  output: string;
}

/**
 * A failed install as the error its requester reads: a package or version the registry does not have is
 * `not_found`; anything else is `validation_failed` with the last lines npm wrote. `hidden` are host paths (the
 * staging directory, npm's home) replaced by names, so no message shows berth's layout.
 */
export function npmFailure(spec: NpmSpec, end: NpmEnd, hidden: Record<string, string>): BerthError {
  const wanted = specArgument(spec);
  const details = { field: 'npm', package: spec.name };
  if (end.stopped === 'timeout') {
    return new BerthError(
      'validation_failed',
      `npm did not install ${wanted} within ${end.timeoutMs} ms (BERTH_NPM_TIMEOUT_MS), so berth stopped it and kept nothing`,
      { details },
    );
  }
  if (end.stopped === 'aborted')
    return new BerthError('invalid_request', `the install of ${wanted} was stopped: its client went away before it finished`, { details });
  let output = end.output;
  for (const [path, name] of Object.entries(hidden)) output = output.replaceAll(path, name);
  const code = /^npm (?:error|ERR!) code (\S+)/m.exec(output)?.[1];
  const said = errorLines(output);
  if (code === 'E404') {
    return new BerthError(
      'not_found',
      `npm's registry has no package ${spec.name}${spec.version === undefined ? '' : ` (or not at ${spec.version})`}: check the name (npm view ${spec.name})`,
      {
        details: { ...details, npm: said },
      },
    );
  }
  if (code === 'ETARGET') {
    return new BerthError(
      'not_found',
      `package ${spec.name} has no version matching "${spec.version ?? 'latest'}": npm view ${spec.name} versions lists them`,
      {
        details: { ...details, npm: said },
      },
    );
  }
  const how = end.code === null ? 'was killed' : `exited with ${end.code}`;
  return new BerthError('validation_failed', `npm could not install ${wanted} (it ${how}):\n${said.join('\n') || '(npm wrote nothing)'}`, {
    details: { ...details, npm: said },
  });
}

/** npm's last error lines (all its last lines when it marked none), without the pointer to its debug log on the host. */
function errorLines(output: string): string[] {
  const lines = output
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '' && !/complete log of this run/i.test(line));
  const errors = lines.filter((line) => /^npm (?:error|ERR!)/.test(line));
  return (errors.length > 0 ? errors : lines).slice(-SHOWN_LINES);
}
