/**
 * What every bwrap sandbox of berth's sees of the system: `/usr` read-only with the usual links into it, and a
 * `/proc` and `/dev` of its own. The compile cache is made in the same view (compile-cache.ts), so what Node keys it
 * by matches what the sandboxes see.
 */
export const SYSTEM_VIEW_ARGS: readonly string[] = [
  ...['--ro-bind', '/usr', '/usr'],
  ...['--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/sbin', '/sbin'],
  ...['--proc', '/proc', '--dev', '/dev'],
];
