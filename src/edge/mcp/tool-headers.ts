import type { RequestHeaders } from '../../core/inbound.ts';
import type { Readable } from 'node:stream';
import { checkParamHeaders, paramHeadersOf, type ParamHeader } from '../../mcp/param-headers.ts';
import { tapResult } from './answer-tap.ts';
/** Runtime versions remembered; the oldest is forgotten past this. */
const MAX_VERSIONS = 1000;

/**
 * What berth knows of each runtime version's parameter headers (SEP-2243), learned from the `tools/list` answers
 * that pass through it, so every `tools/call` is checked header against body before it reaches a server that may
 * not check (a stdio server sees no headers; a bridged legacy server knows nothing of them). A tool berth has not
 * seen listed is not checked: only the server could recognize its headers.
 */
export class ToolHeaderIndex {
  readonly #byVersion = new Map<string, Map<string, ParamHeader[]>>();

  check(version: string, tool: string | undefined, headers: RequestHeaders, args: unknown): void {
    if (tool === undefined) return;
    const declared = this.#byVersion.get(version)?.get(tool);
    if (declared) checkParamHeaders(declared, headers, args);
  }

  /** The answer to a `tools/list`, passed through unchanged while its tools are read on the side. */
  observe(version: string, body: Readable, contentType: string): Readable {
    return tapResult(body, contentType, (result) => this.#learn(version, result));
  }

  #learn(version: string, result: unknown): void {
    const tools = (result as { tools?: unknown } | undefined)?.tools;
    if (!Array.isArray(tools)) return;
    let known = this.#byVersion.get(version);
    if (!known) {
      if (this.#byVersion.size >= MAX_VERSIONS) {
        const oldest = this.#byVersion.keys().next().value;
        if (oldest !== undefined) this.#byVersion.delete(oldest);
      }
      known = new Map();
      this.#byVersion.set(version, known);
    }
    for (const tool of tools as Array<{ name?: unknown; inputSchema?: unknown }>) {
      if (typeof tool?.name !== 'string') continue;
      const declared = paramHeadersOf(tool.inputSchema);
      if (declared) known.set(tool.name, declared);
      else known.delete(tool.name);
    }
  }
}
