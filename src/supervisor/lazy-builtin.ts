/**
 * A Node built-in loaded when first used rather than when the supervisor starts: every sandbox starts a supervisor,
 * and `node:crypto` and `node:http` cost some 5 ms of its start between them, on paths most sandboxes never take
 * (an http agent's request ids and ping, a bridged call's id, an HTTP server's probe, a warmup hook).
 */
export function lazy<ID extends 'node:crypto' | 'node:http'>(id: ID): ReturnType<typeof process.getBuiltinModule<ID>> {
  return process.getBuiltinModule(id);
}
