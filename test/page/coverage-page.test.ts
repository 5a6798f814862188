/**
 * The coverage page at `/` in headless Chromium (Debian's chromium driven by
 * playwright-core), served over the test archive: the page loads without script errors,
 * the coverage table shows the archive's kernels, a group expands to its kernels, the
 * kernel search finds kernels, and uploading an object shows its compatibility matrix
 * (through a job: the server answers 202 at once) and downloads its bundle.
 *
 * A screenshot of the page after the upload is written to a temporary directory, removed
 * afterwards unless BTFHUB_PAGE_SCREENSHOTS names a directory to keep it in.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { readTarEntries } from '../../src/archive/index.js';
import { fixtureObject } from '../api/helpers.js';
import { setupCoverageApi } from '../api/coverage-setup.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

t.test('the coverage page in headless Chromium', { skip }, async (t) => {
  const { chromium } = await import('playwright-core');
  const api = await setupCoverageApi(t, { requestWaitMs: 0 });
  const { app, archive, fixtures } = api;
  const address = await app.listen({ host: '127.0.0.1', port: 0 });

  const profile = await mkdtemp(join(tmpdir(), 'btfhub-page-chromium-'));
  const keep = process.env.BTFHUB_PAGE_SCREENSHOTS;
  const shots = keep ?? (await mkdtemp(join(tmpdir(), 'btfhub-page-shots-')));
  await mkdir(shots, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
    viewport: { width: 1400, height: 900 },
  });
  t.teardown(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
    if (keep === undefined) await rm(shots, { recursive: true, force: true });
  });

  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });

  await t.test('the page loads and the table shows the test archive kernels', async (t) => {
    const response = await page.goto(`${address}/`);
    t.equal(response?.status(), 200);
    t.equal(await page.title(), 'btfhub-online: kernel coverage');
    const groups = new Set(archive.kernels.map((k) => k.path.split('/').slice(0, 3).join('/')));
    await page
      .locator('#coverage-table tbody tr.group')
      .nth(groups.size - 1)
      .waitFor();
    const rows = await page
      .locator('#coverage-table tbody tr.group')
      .evaluateAll((trs: { querySelectorAll(selector: string): Iterable<{ textContent: string | null }> }[]) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
      );
    t.same(rows.map((r) => r.slice(0, 3).join('/')).sort(), [...groups].sort(), 'one row per distro / release / arch');
    t.equal(
      rows.reduce((n, r) => n + Number(r[3]), 0),
      archive.kernels.length,
      'the kernel counts add up to the archive',
    );
    const old = rows.find((r) => r.slice(0, 3).join('/') === 'ubuntu/20.04/x86_64')!;
    t.same(old.slice(3, 6), ['2', '5.4.0-42-generic', '5.4.0-100-generic']);
    t.match(rows.find((r) => r.slice(0, 3).join('/') === 'fedora/40/x86_64')?.[7], /1 hasbtf/);
    t.match(await page.locator('#totals').textContent(), new RegExp(`^${archive.kernels.length} kernels in ${groups.size} `));

    await page.locator('#coverage-table tr[data-group="ubuntu/20.04/x86_64"]').click();
    const nested = page.locator('#coverage-table tr.detail:not([hidden]) table.nested tbody tr');
    await nested.nth(1).waitFor();
    t.same(
      await nested.locator('td:first-child').allTextContents(),
      ['5.4.0-42-generic', '5.4.0-100-generic'],
      'a row expands to its kernels',
    );
  });

  await t.test('the kernel search', async (t) => {
    await page.locator('#search-form input[name=kernel_prefix]').fill('5.4.');
    await page.locator('#search-form button[type=submit]').click();
    await page.locator('#search-results:not([hidden]) tbody tr').nth(2).waitFor();
    t.same((await page.locator('#search-results tbody tr td:first-child').allTextContents()).sort(), [
      '5.4.0-100-generic',
      '5.4.0-42-generic',
      '5.4.0-42-generic',
    ]);
    t.equal(await page.locator('#search-summary').textContent(), '3 kernels.');
  });

  await t.test('uploading an object shows its compatibility matrix', async (t) => {
    const tools = fixtureObject(fixtures, 'tools_like');
    await page
      .locator('#compat-form input[type=file]')
      .setInputFiles({ name: 'tools_like.bpf.o', mimeType: 'application/octet-stream', buffer: Buffer.from(tools.bytes) });
    await page.locator('#compat-submit').click();
    const matrixRows = page.locator('#compat-matrix tbody tr');
    await matrixRows.nth(archive.kernels.length - 1).waitFor({ timeout: 30_000 });
    t.equal(await matrixRows.count(), archive.kernels.length, 'a row per kernel');
    t.match(await page.locator('#compat-headline').textContent(), /tools_like\.bpf\.o: 145 CO-RE relocations on 10 kernels\. Loads on 9/);
    t.equal(await page.locator('#compat-summary tbody tr').count(), 8, 'a summary row per distro / release / arch');
    const columns = await page.locator('#compat-matrix thead th.relo').allTextContents();
    t.ok(columns.includes('task_struct.__state') && columns.includes('cfs_rq.nr_queued'), 'the relocations that differ are columns');
    const classOf = async (kernel: string, column: string) => {
      const index = columns.indexOf(column);
      return page
        .locator(`#compat-matrix tbody tr[data-kernel="${kernel}"] td.cell`)
        .nth(index + 1)
        .getAttribute('data-class');
    };
    t.equal(await classOf('ubuntu/20.04/x86_64/5.4.0-42-generic', 'task_struct.__state'), 'field_missing');
    t.equal(await classOf('ubuntu/24.04/x86_64/6.11.0-8-generic', 'task_struct.__state'), 'resolved');
    t.equal(await classOf('fedora/40/x86_64/6.8.5-301.fc40.x86_64', 'cfs_rq.nr_queued'), 'ambiguous');
    t.equal(await classOf('centos/8/x86_64/4.18.0-348.el8.x86_64', 'nsproxy.mnt_ns'), 'type_missing');
    t.equal(
      await page.locator('#compat-matrix tbody tr[data-kernel="fedora/40/x86_64/6.8.5-301.fc40.x86_64"] td.cell').first().textContent(),
      'no',
    );
    const shot = join(shots, 'coverage-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.ok((await readFile(shot)).length > 10_000, `screenshot ${shot}`);
    t.comment(`screenshot: ${shot}`);
  });

  await t.test('the bundle download', async (t) => {
    await page.locator('#compat-form input[name=distro]').fill('debian');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.locator('#bundle-submit').click()]);
    t.equal(download.suggestedFilename(), 'btfhub-bundle.tar.gz');
    const path = join(shots, 'bundle.tar.gz');
    await download.saveAs(path);
    const names = [...readTarEntries(gunzipSync(await readFile(path)))].map((e) => e.name).sort();
    t.same(
      names,
      archive.kernels
        .filter((k) => k.ref.distro === 'debian')
        .map((k) => `${k.path}.btf`)
        .sort(),
    );
    await page.locator('#compat-status-text', { hasText: 'Bundle downloaded' }).waitFor();
  });

  t.same(problems, [], 'no script errors, no blocked resources');
});
