import { currentScope } from './request-scope.ts';

/**
 * The logger every part of berth receives from its caller. Nothing constructs its own; tests pass a collecting or
 * silent logger. A line is `time level message key=value…` (text) or one JSON object (json).
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields`, such as `{ session }` or `{ runtime }`. */
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level: LogLevel;
  format: 'text' | 'json';
  /** Receives one finished line, without the newline. */
  write: (line: string) => void;
}

export function createLogger(options: LoggerOptions, bound: LogFields = {}): Logger {
  const min = RANK[options.level];
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (RANK[level] < min) return;
    const scope = currentScope();
    // A line about a request names it, its trace and its session, whoever logs it.
    const about = scope && !scope.notes.over && { request: scope.notes.requestId, trace: scope.traceIds?.traceId, session: scope.notes.session };
    const all = about ? { ...about, ...bound, ...fields } : fields === undefined ? bound : { ...bound, ...fields };
    options.write(options.format === 'json' ? jsonLine(level, message, all) : textLine(level, message, all));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

function jsonLine(level: LogLevel, message: string, fields: LogFields): string {
  return JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...serializable(fields) });
}

function textLine(level: LogLevel, message: string, fields: LogFields): string {
  let line = `${new Date().toISOString()} ${level.padEnd(5)} ${message}`;
  for (const [key, value] of Object.entries(serializable(fields))) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    line += ` ${key}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
  }
  return line;
}

function serializable(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = value instanceof Error ? describeError(value) : value;
  }
  return out;
}

function describeError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error ? `; cause: ${describeError(error.cause)}` : '';
  return `${error.name}${typeof code === 'string' ? `[${code}]` : ''}: ${error.message}${cause}`;
}

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
