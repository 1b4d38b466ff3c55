import { posix } from 'node:path';
import { BerthError } from '../core/errors.ts';

/**
 * What berth takes of a published package: its name and the version, range or dist-tag asked for (none: npm's
 * `latest`). It becomes one argument of npm, so only a registry package's spelling is accepted: no URL, git, file,
 * path, alias or flag ever reaches npm.
 */
export interface NpmSpec {
  name: string;
  version?: string;
}

/** npm's limit on a package name, scope included. */
const MAX_NAME = 214;
/** A name, or a scope, as npm publishes them (upper case only in packages older than the rule). */
const NAME_PART = /^[a-z0-9][a-z0-9._~-]*$/i;
/** A version, a range (`^1.2`, `>=1 <2`, `1.x || 2`) or a dist-tag (`latest`, `next`). */
const VERSION = /^[\w^~<>=*][\w.+^~<>=|* -]*$/;
const MAX_VERSION = 128;
const RESERVED = new Set(['node_modules', 'favicon.ico']);
const FORMS = 'give a published package as NAME, NAME@VERSION, NAME@RANGE or NAME@TAG, such as @modelcontextprotocol/server-memory@2026.8.31';

/** Parses `NAME[@VERSION]`, refusing anything npm would read as other than a registry package. */
export function parseNpmSpec(text: string): NpmSpec {
  const refuse = (why: string): BerthError =>
    new BerthError('validation_failed', `${JSON.stringify(text.slice(0, 300))} is not an npm package: ${why}; ${FORMS}`, { details: { field: 'npm' } });
  if (text.startsWith('npm:')) throw refuse('leave out the "npm:" prefix here');
  const at = text.indexOf('@', 1);
  const name = at === -1 ? text : text.slice(0, at);
  const version = at === -1 ? undefined : text.slice(at + 1);
  if (name.length === 0 || name.length > MAX_NAME) throw refuse(`a name is 1 to ${MAX_NAME} characters`);
  const parts = name.startsWith('@') ? name.slice(1).split('/') : [name];
  if (name.startsWith('@') && parts.length !== 2) throw refuse('a scoped name is @SCOPE/NAME');
  if (!name.startsWith('@') && name.includes('/')) throw refuse('a name holds no "/" unless it is @SCOPE/NAME (URLs, git and paths are not installed)');
  for (const part of parts) {
    if (!NAME_PART.test(part)) throw refuse('a name is letters, digits and - . _ ~, starting with a letter or digit');
  }
  if (RESERVED.has(name.toLowerCase())) throw refuse(`"${name}" is reserved`);
  if (version === undefined) return { name };
  if (version.length === 0 || version.length > MAX_VERSION || !VERSION.test(version) || version.trim() !== version) {
    throw refuse(`after "@" comes a version, a range or a tag of at most ${MAX_VERSION} characters (letters, digits, spaces and . + ^ ~ < > = | * -)`);
  }
  return { name, version };
}

/** The spec as npm's one argument names it. */
export function specArgument(spec: NpmSpec): string {
  return spec.version === undefined ? spec.name : `${spec.name}@${spec.version}`;
}

export interface PackageBin {
  /** The bin's name in the package's `bin`. */
  name: string;
  /** Its file, relative to the package's directory. */
  path: string;
}

/**
 * The executable a package declares in package.json's `bin`: a string (named after the package's last segment),
 * or one entry of an object: the one `chosen`, else the one named like the package's last segment, else the only
 * one. A package with several and no choice, or none, is refused with what there is.
 */
export function resolveBin(manifest: unknown, name: string, chosen?: string): PackageBin {
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  const bin = typeof manifest === 'object' && manifest !== null ? (manifest as { bin?: unknown }).bin : undefined;
  const entries: Array<[string, string]> =
    typeof bin === 'string'
      ? [[lastSegment, bin]]
      : typeof bin === 'object' && bin !== null
        ? Object.entries(bin).filter((entry): entry is [string, string] => typeof entry[1] === 'string')
        : [];
  if (entries.length === 0) {
    throw new BerthError(
      'validation_failed',
      `package ${name} has no bin in its package.json, so berth has nothing to run: it is a library, not a server; deploy a package that declares a bin`,
      {
        details: { field: 'npm', package: name },
      },
    );
  }
  const names = entries.map(([entry]) => entry);
  const picked =
    chosen !== undefined
      ? entries.find(([entry]) => entry === chosen)
      : (entries.find(([entry]) => entry === lastSegment) ?? (entries.length === 1 ? entries[0] : undefined));
  if (picked === undefined) {
    const why = chosen !== undefined ? `has no bin "${chosen}"` : 'has several bins';
    throw new BerthError('validation_failed', `package ${name} ${why}: ${names.join(', ')}; name the one to run with "bin" (berth deploy --bin NAME)`, {
      details: { field: 'bin', package: name, bins: names },
    });
  }
  return { name: picked[0], path: binPath(name, picked) };
}

/** A bin's file as a path inside its package: relative, and never climbing out of it. */
function binPath(name: string, [entry, path]: [string, string]): string {
  const normalized = posix.normalize(path);
  if (path.includes('\0') || posix.isAbsolute(normalized) || normalized === '.' || normalized === '..' || normalized.startsWith('../')) {
    throw new BerthError('validation_failed', `package ${name} declares bin "${entry}" as ${JSON.stringify(path)}, which is not a file inside the package`, {
      details: { field: 'npm', package: name },
    });
  }
  return normalized;
}

/** A word of a `/bin/sh` command line that stands for exactly `word`: plain words as they are, others single-quoted. */
export function shellWord(word: string): string {
  if (word.includes('\0')) throw new BerthError('validation_failed', 'a server argument must not contain NUL characters', { details: { field: 'args' } });
  // The same plain words src/core/command.ts runs without a shell, so a command of them keeps that path.
  if (/^[\w./@:=+,%-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The start command of an installed package's bin, run from the artifact's root with berth's `node`. */
export function serverCommand(name: string, bin: PackageBin, args: readonly string[]): string {
  return ['node', shellWord(`node_modules/${name}/${bin.path}`), ...args.map(shellWord)].join(' ');
}
