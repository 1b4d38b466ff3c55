/**
 * The web console in a real browser (Debian's chromium, driven by puppeteer-core): sign in with the admin key (by
 * keyboard), see a runtime, open a session a test client made and watch its log line arrive, call a tool in the
 * playground and answer the question its server asks, stop the session, make and revoke a key. Each page's
 * screenshot is saved under test-results/console/. The key never appears in a URL, and its cookie opens nothing
 * without the console's header.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { BwrapDriver } from '../../src/sandbox/drivers/bwrap/driver.ts';
import { deploy, startBerth, type BerthNode } from '../helpers/berth.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { connectSession, type SessionClient } from '../helpers/mcp.ts';
import { waitFor } from '../helpers/wait.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-results/console/', import.meta.url));
const skip = BwrapDriver.unsupportedReason() ?? (existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)');

describe('the web console', { skip }, () => {
  let node: BerthNode;
  let browser: Browser;
  let page: Page;
  let client: SessionClient;
  const urls: string[] = [];

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    node = await startBerth();
    await deploy(node, 'counter', await fixtureDir('counter-server'), { transport: 'stdio' });
    await deploy(node, 'legacy', await fixtureDir('legacy-counter-server'), { transport: 'stdio' });
    client = await connectSession(node.url, 'counter');
    await client.call('increment');
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('framenavigated', (frame) => urls.push(frame.url()));
    page.on('request', (request) => urls.push(request.url()));
  });
  after(async () => {
    await client?.close().catch(() => {});
    await browser?.close();
    await node?.stop();
  });

  const shot = (name: string): Promise<unknown> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const text = async (): Promise<string> => String(await page.evaluate('document.body.innerText'));
  const showing = (wanted: string | RegExp, what: string): Promise<void> =>
    waitFor(async () => (typeof wanted === 'string' ? (await text()).includes(wanted) : wanted.test(await text())), what, 15_000);

  test('signs in with the admin key, by keyboard; a wrong key is refused', async () => {
    await page.goto(`${node.url}/console`);
    const field = await page.waitForSelector('::-p-aria(Admin key)');
    await shot('01-sign-in');
    await field?.type('berth_not-a-key');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[role=alert]');
    assert.match(await text(), /unknown or was revoked/);
    await page.$eval('#admin-key', (input) => ((input as unknown as { value: string }).value = ''));
    await page.focus('#admin-key');
    await page.keyboard.type(node.adminKey);
    // To the button, and press it.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('::-p-text(Live sessions)');
    await showing(/1\s*live sessions/, 'the live session counted');
    await shot('02-overview');
    const cookies = await page.cookies(`${node.url}/v1/nodes`);
    const cookie = cookies.find((c) => c.name === 'berth_console');
    assert.ok(cookie?.httpOnly, 'the key is kept in an HttpOnly cookie');
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', "the page's scripts cannot read it");
  });

  test('the cookie alone, without the console header, opens nothing', async () => {
    const bare = await fetch(`${node.url}/v1/nodes`, { headers: { cookie: `berth_console=${node.adminKey}` } });
    assert.equal(bare.status, 401);
    const withHeader = await fetch(`${node.url}/v1/nodes`, { headers: { cookie: `berth_console=${node.adminKey}`, 'x-berth-console': '1' } });
    assert.equal(withHeader.status, 200);
  });

  test('shows runtimes, a runtime with its deploy history', async () => {
    await page.goto(`${node.url}/console#/runtimes`);
    const link = await page.waitForSelector('a::-p-text(counter)');
    await shot('03-runtimes');
    await link?.click();
    await page.waitForSelector('::-p-text(Deploy history)');
    await showing('node server.js stdio', 'the command');
    await shot('04-runtime');
  });

  test("opens the test client's session and watches its log line arrive", async () => {
    await page.goto(`${node.url}/console#/sessions`);
    const link = await page.waitForSelector(`a::-p-text(${client.sessionId})`);
    await shot('05-sessions');
    await link?.click();
    await page.waitForSelector('::-p-text(Log)');
    await client.call('write_stderr', { text: 'a line for the console to show' });
    await showing('a line for the console to show', 'the log line in the page');
    await showing(/Requests\s*\d+/, 'the request count');
    await shot('06-session');
  });

  test('the playground calls a tool, answers the elicitation its server asks, and shows the result', async () => {
    await page.goto(`${node.url}/console#/playground`);
    const runtime = await page.waitForSelector('::-p-aria(Runtime)');
    await waitFor(async () => (await page.$$eval('option', (options) => options.map((o) => o.textContent))).includes('legacy'), 'the runtimes listed');
    await runtime?.select('legacy');
    await page.click('::-p-text(List tools)');
    const tool = await page.waitForSelector('::-p-aria(Tool)');
    await tool?.select('ask_name');
    await page.click('::-p-text(Call ask_name)');
    const name = await page.waitForSelector('::-p-aria(name)');
    await showing('What is your name?', 'the question');
    await shot('07-playground-question');
    await name?.type('Ada');
    await page.click('::-p-text(Accept)');
    await page.waitForSelector('[data-testid=tool-result]');
    await showing('"name":"Ada"', 'the tool result');
    await shot('08-playground-result');
  });

  test('stops the session from its page', async () => {
    await page.goto(`${node.url}/console#/sessions/${client.sessionId}`);
    const stop = await page.waitForSelector('::-p-text(Stop session)');
    await stop?.click();
    await showing('Stopped.', 'the stop confirmed');
    const gone = await node.admin(`/v1/sessions/${client.sessionId}`);
    assert.equal(((await gone.json()) as { state: string }).state, 'ended');
    await shot('09-session-stopped');
  });

  test('makes a key, shows it once, and revokes it', async () => {
    await page.goto(`${node.url}/console#/keys`);
    const runtime = await page.waitForSelector('select::-p-aria(Runtime)');
    await waitFor(async () => (await page.$$eval('option', (options) => options.map((o) => o.value))).includes('counter'), 'the runtimes listed');
    await runtime?.select('counter');
    await page.type('::-p-aria(User)', 'console-user');
    await page.click('::-p-text(Make key)');
    await page.waitForSelector('::-p-text(berth never shows it again)');
    const made = await page.$eval('::-p-aria(The key)', (input) => (input as unknown as { value: string }).value);
    assert.match(made, /^berth_/);
    await shot('10-key-made');
    const listed = (await (await node.admin('/v1/keys?runtime=counter')).json()) as { keys: Array<{ id: string; user?: string; revokedAt?: string }> };
    const key = listed.keys.find((k) => k.user === 'console-user');
    assert.ok(key);
    await page.click(`::-p-aria(Revoke key ${key.id})`);
    await showing(`Key ${key.id} revoked.`, 'the revocation confirmed');
    const after = (await (await node.admin('/v1/keys?runtime=counter')).json()) as { keys: Array<{ id: string; revokedAt?: string }> };
    assert.ok(after.keys.find((k) => k.id === key.id)?.revokedAt);
    await shot('11-keys');
  });

  test('every field has a label, and the admin key was never in a URL', async () => {
    for (const hash of ['#/', '#/sessions', '#/playground', '#/keys']) {
      await page.goto(`${node.url}/console${hash}`);
      await page.waitForSelector('main h1');
      const unlabelled = await page.$$eval('input, select, textarea', (fields) =>
        fields
          .filter((field) => (field as unknown as { labels?: { length: number } }).labels?.length === 0 && !field.getAttribute('aria-label'))
          .map((field) => field.outerHTML),
      );
      assert.deepEqual(unlabelled, [], hash);
    }
    assert.ok(urls.length > 0);
    assert.ok(!urls.some((url) => url.includes(node.adminKey)));
  });
});

describe('the console sign-in, hostile', { skip: BwrapDriver.unsupportedReason() ?? false }, () => {
  let node: BerthNode;
  before(async () => {
    node = await startBerth();
  });
  after(async () => {
    await node?.stop();
  });
  const signIn = (body: string, headers: Record<string, string> = { 'x-berth-console': '1' }): Promise<Response> =>
    fetch(`${node.url}/v1/console/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  test('bad sign-ins get a clear error and no cookie; the node goes on', async () => {
    for (const [body, status] of [
      ['{"key":"berth_nope"}', 401],
      ['{"key":42}', 400],
      ['{"key":"a b;c=d"}', 400],
      ['not json', 400],
      [`{"key":"${'x'.repeat(600)}"}`, 400],
    ] as const) {
      const answer = await signIn(body);
      assert.equal(answer.status, status, body.slice(0, 40));
      assert.equal(answer.headers.get('set-cookie'), null);
      assert.match(((await answer.json()) as { error: { message: string } }).error.message, /\w/);
    }
    // Without the console's header (another site's form could send the rest): refused.
    const forged = await signIn(JSON.stringify({ key: node.adminKey }), {});
    assert.equal(forged.status, 403);
    assert.equal(forged.headers.get('set-cookie'), null);
    // A runtime's key opens the runtime, not the console.
    await deploy(node, 'counter', await fixtureDir('counter-server'), { transport: 'stdio' });
    const made = (await (
      await node.admin('/v1/keys', { method: 'POST', body: JSON.stringify({ runtime: 'counter' }), headers: { 'content-type': 'application/json' } })
    ).json()) as {
      key: string;
    };
    assert.equal((await signIn(JSON.stringify({ key: made.key }))).status, 403);
    const good = await signIn(JSON.stringify({ key: node.adminKey }));
    assert.equal(good.status, 204);
    assert.match(good.headers.get('set-cookie') ?? '', /^berth_console=berth_[^;]+; Path=\/v1; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
  });

  test('the console page and its assets need no sign-in, name only their own origin, and are never framed', async () => {
    const page = await fetch(`${node.url}/console`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'.*frame-ancestors 'none'/);
    const html = await page.text();
    const script = /src="(\/console\/assets\/[0-9a-f]+\/app\.js)"/.exec(html)?.[1];
    assert.ok(script);
    const js = await fetch(`${node.url}${script}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.ok(!(await js.text()).includes('https://'), 'nothing is fetched from elsewhere (no CDN)');
  });
});
