import type { RuntimeSpec } from './runtime-spec.ts';

/** A runtime as `/v1/runtimes` shows it: the one shape the node answers with and the CLI and console read. */
export interface RuntimeView {
  name: string;
  id: string;
  latestVersion: number;
  createdAt: string;
  updatedAt: string;
  liveSessions: number;
  /** The version's spec as `/v1` shows it (secret values hidden). */
  spec: RuntimeSpec;
  /** This node's pool of the current version, when the runtime keeps one. */
  warmPool?: { size: number; ready: number; version: number };
}
