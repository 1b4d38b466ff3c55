import type { ChildProcess, spawn as Spawn } from 'node:child_process';
import type { Http1ServerRequest, Http1ServerResponse } from '../core/http1-server.ts';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import {
  COMMAND_CHUNK_CHARS,
  COMMAND_REQUEST_MAX_BYTES,
  NDJSON_TYPE,
  parseCommandRequest,
  type CommandEvent,
  type CommandExit,
  type CommandRequest,
} from '../core/channel-commands.ts';
import { BerthError, isBerthError } from '../core/errors.ts';
import { notJson } from '../core/http.ts';
import type { ChannelHandler } from './channel-server.ts';
import { replyError } from './reply.ts';

/**
 * After the shell exits, its output is over once its pipes close, or once nothing has come for this long while
 * the host takes what comes: a background process left holding them open is not waited for (it keeps running,
 * unread, until the sandbox ends).
 */
const PIPE_GRACE_MS = 200;

/** Loaded at the first command, not at start: every sandbox's start pays for what the supervisor loads. */
let childProcess: Promise<{ spawn: typeof Spawn }> | undefined;

export interface CommandOptions {
  /** The server's environment; every command gets it. */
  env: Record<string, string>;
  /** The server's working directory (its artifact). */
  cwd: string;
}

export interface CommandRunner {
  /** `POST /commands`. */
  handle: ChannelHandler;
  /** Kills every command still running, with all it started; for when the sandbox ends. */
  killAll(): void;
}

/**
 * `POST /commands`: runs `/bin/sh -c COMMAND` as a fresh process group in the sandbox, with the server's
 * environment and working directory and stdin closed, and answers NDJSON events as its output arrives (see
 * src/core/channel-commands.ts). Past its timeout, or when the channel request goes away, the whole group is
 * killed. While the host does not take the answer, the command's pipes are not read, so it blocks on output
 * rather than filling the supervisor's memory.
 */
export function createCommandRunner(options: CommandOptions): CommandRunner {
  const running = new Set<ChildProcess>();
  return {
    handle: (req, res) => {
      childProcess ??= import('node:child_process');
      Promise.all([readCommandRequest(req), childProcess])
        .then(([request, { spawn }]) => run(spawn, request, options, res, running))
        .catch((error: unknown) => {
          const failure = isBerthError(error) ? error : new BerthError('sandbox_failed', `the command could not run: ${(error as Error).message}`);
          replyError(res, failure.code, failure.message);
        });
    },
    killAll: () => {
      for (const child of running) killGroup(child);
    },
  };
}

async function readCommandRequest(req: Http1ServerRequest): Promise<CommandRequest> {
  let body: Buffer;
  try {
    body = await req.bytes(COMMAND_REQUEST_MAX_BYTES);
  } catch (error) {
    if (error instanceof RangeError) throw new BerthError('body_too_large', `a command request is at most ${COMMAND_REQUEST_MAX_BYTES} bytes`);
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BerthError('parse_error', `the command request is ${notJson(error)}`);
  }
  return parseCommandRequest(value);
}

function run(spawn: typeof Spawn, request: CommandRequest, options: CommandOptions, res: Http1ServerResponse, running: Set<ChildProcess>): void {
  if (res.destroyed) return;
  // Its own process group (detached), so that killing it kills whatever it started in the background too.
  const child = spawn('/bin/sh', ['-c', request.command], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  const pipes = [child.stdout as Readable, child.stderr as Readable];
  let over = false;
  let paused = false;
  let timedOut = false;
  let exit: CommandExit | undefined;
  let quiet: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, request.timeoutSeconds * 1000);

  const end = (last?: CommandEvent): void => {
    if (over) return;
    over = true;
    running.delete(child);
    clearTimeout(timer);
    clearTimeout(quiet);
    for (const pipe of pipes) pipe.destroy();
    if (last) res.end(`${JSON.stringify(last)}\n`);
  };
  const awaitQuiet = (): void => {
    clearTimeout(quiet);
    const done = exit;
    if (done && !paused) quiet = setTimeout(() => end({ exit: done }), PIPE_GRACE_MS);
  };
  const send = (event: CommandEvent): void => {
    if (over) return;
    if (!res.write(`${JSON.stringify(event)}\n`) && !paused) {
      paused = true;
      clearTimeout(quiet);
      for (const pipe of pipes) pipe.pause();
      res.once('drain', () => {
        paused = false;
        for (const pipe of pipes) pipe.resume();
        awaitQuiet();
      });
    }
    awaitQuiet();
  };

  child.once('error', (error) => {
    end();
    replyError(res, 'sandbox_failed', `the command could not start: ${error.message}`);
  });
  child.once('spawn', () => {
    res.writeHead(200, { 'content-type': NDJSON_TYPE, 'cache-control': 'no-store' });
    res.flushHeaders();
    forward(pipes[0] as Readable, (text) => send({ stdout: text }));
    forward(pipes[1] as Readable, (text) => send({ stderr: text }));
    let open = pipes.length;
    for (const pipe of pipes) {
      pipe.once('close', () => {
        // 'close' follows the last 'data' and the decoder's tail; the exit may still be on its way.
        if (--open === 0) void exited.then((done) => end({ exit: done }));
      });
    }
  });
  const exited = new Promise<CommandExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = timedOut ? { exitCode: -1, status: 'TIMED_OUT' } : { exitCode: code ?? 128 + (signal ? constants.signals[signal] : 0), status: 'COMPLETED' };
      resolve(exit);
      awaitQuiet();
    });
  });
  // The host went away (its client disconnected): the command is of no more use.
  res.once('close', () => {
    if (over) return;
    killGroup(child);
    end();
  });
}

/** Output as UTF-8 text (invalid bytes become U+FFFD), in pieces of at most COMMAND_CHUNK_CHARS, never splitting a character. */
function forward(stream: Readable, emit: (text: string) => void): void {
  const decoder = new StringDecoder('utf8');
  const pieces = (text: string): void => {
    for (let start = 0; start < text.length;) {
      let end = Math.min(start + COMMAND_CHUNK_CHARS, text.length);
      const last = text.charCodeAt(end - 1);
      if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
      emit(text.slice(start, end));
      start = end;
    }
  };
  stream.on('data', (chunk: Buffer) => pieces(decoder.write(chunk)));
  stream.once('end', () => pieces(decoder.end()));
  stream.on('error', () => {});
}

/** The command and everything it started that stayed in its process group. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}
