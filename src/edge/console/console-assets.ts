import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { WebRoute } from '../../core/router.ts';

const ENTRY = fileURLToPath(new URL('../../../console/main.tsx', import.meta.url));

interface Bundle {
  js: Buffer<ArrayBuffer>;
  css: Buffer<ArrayBuffer>;
  /** Names this build: the page asks for its assets by it, so a browser never mixes two builds. */
  tag: string;
}

/**
 * The web console's page and assets. Its code (console/, Preact) is bundled with esbuild the first time the console
 * is asked for, then served from memory: it needs nothing from the network (no CDN), and a node whose console is
 * never opened never builds it. The page is the same for everyone; what it shows comes from `/v1` once signed in.
 */
export function consoleRoutes(): WebRoute[] {
  let bundle: Promise<Bundle> | undefined;
  const built = (): Promise<Bundle> => {
    bundle ??= bundleConsole().catch((error: unknown) => {
      bundle = undefined;
      throw error;
    });
    return bundle;
  };
  const page = async (): Promise<Response> => {
    const { tag } = await built();
    return new Response(html(tag), { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', ...SECURITY_HEADERS } });
  };
  const asset = (kind: 'js' | 'css') => async (): Promise<Response> => {
    const found = await built();
    return new Response(found[kind], {
      headers: {
        'content-type': kind === 'js' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
        'cache-control': 'public, max-age=31536000, immutable',
        ...SECURITY_HEADERS,
      },
    });
  };
  return [
    { method: 'GET', pattern: '/console', handler: page },
    { method: 'GET', pattern: '/console/', handler: page },
    { method: 'GET', pattern: '/console/assets/:tag/app.js', handler: asset('js') },
    { method: 'GET', pattern: '/console/assets/:tag/app.css', handler: asset('css') },
  ];
}

/** The page may run only its own script and style, talk only to berth, and be framed by nobody. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function html(tag: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>berth console</title>
<link rel="stylesheet" href="/console/assets/${tag}/app.css">
</head>
<body>
<div id="app"><p>Loading the berth console…</p></div>
<noscript>The berth console needs JavaScript.</noscript>
<script type="module" src="/console/assets/${tag}/app.js"></script>
</body>
</html>
`;
}

async function bundleConsole(): Promise<Bundle> {
  const result = await build({
    entryPoints: { app: ENTRY },
    bundle: true,
    write: false,
    outdir: '/console-out',
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const file = (ext: string): Buffer<ArrayBuffer> => {
    const found = result.outputFiles.find((out) => out.path.endsWith(ext));
    if (!found) throw new Error(`the console's bundle has no ${ext}`);
    return Buffer.from(found.contents);
  };
  const js = file('.js');
  const css = file('.css');
  const tag = createHash('sha256').update(js).update(css).digest('hex').slice(0, 16);
  return { js, css, tag };
}
