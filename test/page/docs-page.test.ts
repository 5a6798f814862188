/**
 * /docs (Swagger UI) in headless Chromium under its CSP (frame-ancestors 'none'): the page
 * renders the operations with no script error and no CSP violation, and a POST the page
 * makes to the service (as "Try it out" does: the browser sends Origin, same-origin) is
 * answered by the route, not refused as a foreign origin.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { setupApi } from '../api/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

t.test('/docs renders under its CSP and can POST to its own service', { skip }, async (t) => {
  const { chromium } = await import('playwright-core');
  const { app } = await setupApi(t);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const profile = await mkdtemp(join(tmpdir(), 'btfhub-docs-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });

  const response = await page.goto(`${address}/docs/`);
  t.equal(response?.status(), 200);
  t.match(response?.headers()['content-security-policy'], /frame-ancestors 'none'/);
  await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });
  t.ok((await page.locator('.opblock').count()) > 10, 'the operations are listed');
  // Swagger UI asks validator.swagger.io for a badge; this machine may be offline: not a CSP matter.
  t.same(
    problems.filter((p) => !/validator\.swagger\.io|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED/.test(p)),
    [],
    'no script error, no CSP violation',
  );

  const status = await page.evaluate(async () => {
    const form = new FormData();
    form.append('distro', 'ubuntu');
    const answer = await fetch('/api/v1/btf', { method: 'POST', body: form });
    return { status: answer.status, body: await answer.json() };
  });
  t.equal(status.status, 400, `answered by the route (a field is missing), not 403: ${JSON.stringify(status.body)}`);
});
