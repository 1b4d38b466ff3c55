/**
 * The supervision of hosted stdio servers, as the node wires it into its bwrap driver (src/server.ts): tests that
 * make a driver themselves pass it the same way.
 */
export { superviseOnHost } from '../../src/supervisor/host.ts';
