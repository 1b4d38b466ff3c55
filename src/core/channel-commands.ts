/**
 * The channel's command contract (`POST /commands`, what AgentCore's InvokeAgentRuntimeCommand runs): the host
 * sends one JSON request; the supervisor runs `/bin/sh -c COMMAND` as a fresh process in the sandbox and answers
 * with NDJSON, one event a line, as the output arrives, the exit last.
 */
import { BerthError } from './errors.ts';

export const COMMAND_MAX_LENGTH = 65_536;
export const COMMAND_TIMEOUT_DEFAULT_SECONDS = 300;
export const COMMAND_TIMEOUT_MAX_SECONDS = 3_600;
/** A command request holds a command and a number; JSON escapes take at most 6 bytes a character. */
export const COMMAND_REQUEST_MAX_BYTES = 6 * COMMAND_MAX_LENGTH + 1024;
/** Output leaves in pieces of at most this many characters, so every event line stays short. */
export const COMMAND_CHUNK_CHARS = 16 * 1024;
/** The longest event line the host reads from a sandbox: a full piece, every character escaped, and the framing. */
export const COMMAND_EVENT_MAX_BYTES = 6 * COMMAND_CHUNK_CHARS + 256;
export const NDJSON_TYPE = 'application/x-ndjson';

export interface CommandRequest {
  /** Run by `/bin/sh -c`; 1 to 65 536 characters. */
  command: string;
  /** Past this the command's whole process group is killed; 1 to 3 600, default 300. */
  timeoutSeconds: number;
}

export type CommandStatus = 'COMPLETED' | 'TIMED_OUT';

/** `exitCode` is the process's own (128 + the signal's number when a signal ended it), or -1 when it timed out. */
export interface CommandExit {
  exitCode: number;
  status: CommandStatus;
}

export type CommandEvent = { stdout: string } | { stderr: string } | { exit: CommandExit };

/** A command request from anyone (a client, or the host for the supervisor), or a `validation_failed` saying what is wrong. */
export function parseCommandRequest(value: unknown): CommandRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BerthError('validation_failed', 'a command request is a JSON object: {"command": "…", "timeoutSeconds": 300}');
  }
  const { command, timeoutSeconds, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new BerthError('validation_failed', `a command request has no field ${unknown.map((k) => `"${k}"`).join(', ')}; it takes command and timeoutSeconds`);
  if (typeof command !== 'string' || command.length < 1 || command.length > COMMAND_MAX_LENGTH) {
    throw new BerthError('validation_failed', `command must be a string of 1 to ${COMMAND_MAX_LENGTH} characters`, { details: { field: 'command' } });
  }
  // The kernel ends an argument at NUL: whatever followed would silently not run.
  if (command.includes('\0')) throw new BerthError('validation_failed', 'command must not contain NUL characters', { details: { field: 'command' } });
  const timeout = timeoutSeconds ?? COMMAND_TIMEOUT_DEFAULT_SECONDS;
  if (!Number.isInteger(timeout) || (timeout as number) < 1 || (timeout as number) > COMMAND_TIMEOUT_MAX_SECONDS) {
    throw new BerthError('validation_failed', `timeoutSeconds must be a whole number of seconds from 1 to ${COMMAND_TIMEOUT_MAX_SECONDS}`, {
      details: { field: 'timeoutSeconds' },
    });
  }
  return { command, timeoutSeconds: timeout as number };
}

/** One event line from a sandbox, which is untrusted: exactly one of the three shapes, nothing more, or undefined. */
export function parseCommandEvent(line: string): CommandEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.stdout === 'string') return { stdout: v.stdout };
  if (typeof v.stderr === 'string') return { stderr: v.stderr };
  if (typeof v.exit !== 'object' || v.exit === null) return undefined;
  const exit = v.exit as Record<string, unknown>;
  if (Object.keys(exit).length !== 2 || !Number.isInteger(exit.exitCode)) return undefined;
  const exitCode = exit.exitCode as number;
  if (exit.status === 'TIMED_OUT' && exitCode === -1) return { exit: { exitCode, status: 'TIMED_OUT' } };
  if (exit.status === 'COMPLETED' && exitCode >= -1 && exitCode <= 255) return { exit: { exitCode, status: 'COMPLETED' } };
  return undefined;
}
