// ESLint rule: DESIGN.md's layers. A file under src/<layer>/ may import only from the layers listed for it, so
// dependencies point inward. The table is DESIGN.md's "Layout" table.
import { dirname, relative, resolve, sep } from 'node:path';

const ALLOWED = {
  core: [],
  config: ['core'],
  observability: ['core'],
  mcp: ['core'],
  sandbox: ['core', 'observability'],
  supervisor: ['core', 'mcp'],
  store: ['core'],
  cluster: ['core', 'observability', 'store'],
  sessions: ['core', 'observability', 'sandbox', 'store', 'cluster'],
  control: ['core', 'store', 'sessions', 'cluster'],
  edge: ['core', 'config', 'observability', 'mcp', 'sandbox', 'supervisor', 'store', 'cluster', 'sessions', 'control'],
  cli: ['core', 'config'],
  server: ['*'],
};

function layerOf(file, root) {
  const rel = relative(resolve(root, 'src'), file);
  if (rel.startsWith('..')) return undefined;
  const [first] = rel.split(sep);
  return first === 'server.ts' ? 'server' : first;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: "keep imports inside DESIGN.md's layer boundaries" },
    messages: {
      forbidden: "src/{{from}}/ may not import src/{{to}}/ (allowed: {{allowed}}); see DESIGN.md's Layout table",
      server: 'nothing imports src/server.ts; it wires everything',
    },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const root = context.cwd;
    const from = layerOf(file, root);
    if (from === undefined) return {};
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = resolve(dirname(file), spec);
      const to = layerOf(target, root);
      if (to === undefined || to === from) return;
      if (to === 'server') {
        context.report({ node, messageId: 'server' });
        return;
      }
      const allowed = ALLOWED[from] ?? [];
      if (allowed.includes('*') || allowed.includes(to)) return;
      context.report({ node, messageId: 'forbidden', data: { from, to, allowed: allowed.join(', ') || 'nothing' } });
    };
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
};
