/* The coverage page's script: plain browser JavaScript over the JSON API, no build step.
 *
 *   GET  /api/v1/coverage                   the coverage table (and the distro choices)
 *   GET  /api/v1/coverage/{d}/{v}/{a}       a group's kernels, when its row is selected
 *   GET  /api/v1/kernels?...                the kernel search
 *   POST /api/v1/compat, /api/v1/bundle     the upload; a 202 is followed through /api/v1/jobs/{id}
 *
 * Every value from the service reaches the page through textContent, never as HTML.
 */
/* global document, window, fetch, FormData, URLSearchParams, URL, setTimeout */

const CLASSES = ['resolved', 'field_missing', 'type_missing', 'enum_missing', 'ambiguous', 'error'];
const CLASS_LABELS = {
  resolved: 'resolved',
  field_missing: 'field missing',
  type_missing: 'type missing',
  enum_missing: 'enum missing',
  ambiguous: 'ambiguous',
  error: 'error',
  unreadable: 'unreadable',
};

const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof window.Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(node, visible = true) {
  node.hidden = !visible;
}

/** The API's error body as a sentence. */
async function errorOf(response) {
  try {
    const body = await response.json();
    return `${body.message ?? response.statusText} (${response.status} ${body.error ?? ''})`.trim();
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function getJson(url, init) {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(await errorOf(response));
  return response.json();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC');
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// ---------------------------------------------------------------------------------------
// Coverage table

async function loadCoverage() {
  const body = $('#coverage-table tbody');
  try {
    const coverage = await getJson('/api/v1/coverage');
    const distros = new Set(coverage.items.map((g) => g.distro));
    const t = coverage.totals;
    $('#totals').textContent =
      `${t.kernels} kernels in ${t.groups} distribution / release / arch groups across ${distros.size} distributions` +
      (t.failed || t.hasbtf ? ` · markers: ${t.failed} failed, ${t.hasbtf} hasbtf` : '');
    body.replaceChildren();
    if (coverage.items.length === 0) {
      body.append(
        el('tr', {}, el('td', { colspan: 8, className: 'muted' }, 'No kernels yet: import an archive (btfhub import) or upload one.')),
      );
    }
    for (const group of coverage.items) {
      const detail = el('tr', { className: 'detail', hidden: true }, el('td', { colspan: 8 }));
      const row = el(
        'tr',
        {
          className: 'group',
          tabindex: 0,
          'data-group': `${group.distro}/${group.distro_version}/${group.arch}`,
          onclick: () => toggleGroup(group, detail),
          onkeydown: (event) => {
            if (event.key !== 'Enter' && event.key !== ' ') return;
            event.preventDefault();
            toggleGroup(group, detail);
          },
        },
        el('td', {}, group.distro),
        el('td', {}, group.distro_version),
        el('td', {}, group.arch),
        el('td', { className: 'num' }, group.kernels),
        el('td', { className: 'mono' }, group.oldest_kernel ?? '–'),
        el('td', { className: 'mono' }, group.newest_kernel ?? '–'),
        el('td', {}, group.last_added ? `${when(group.last_added)}` : '–'),
        el(
          'td',
          {},
          group.markers.failed ? el('span', { className: 'badge failed' }, `${group.markers.failed} failed`) : null,
          group.markers.hasbtf ? el('span', { className: 'badge hasbtf' }, `${group.markers.hasbtf} hasbtf`) : null,
        ),
      );
      body.append(row, detail);
    }
    const select = $('#search-form select[name=distro]');
    for (const distro of [...distros].sort()) select.append(el('option', { value: distro }, distro));
  } catch (error) {
    $('#totals').textContent = 'Coverage unavailable.';
    const note = $('#coverage-error');
    note.textContent = `Could not load the coverage: ${error.message}`;
    show(note);
  }
}

async function toggleGroup(group, detail) {
  if (!detail.hidden) return show(detail, false);
  const cell = detail.firstChild;
  cell.replaceChildren(el('span', { className: 'muted' }, 'Loading…'));
  show(detail);
  try {
    const kernels = await getJson(group.url);
    const list = el(
      'table',
      { className: 'data nested' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', {}, 'Kernel'),
          el('th', {}, 'Stored as'),
          el('th', { className: 'num' }, 'Size'),
          el('th', {}, 'Added'),
          el('th', {}, ''),
        ),
      ),
      el(
        'tbody',
        {},
        kernels.items.map((k) =>
          el(
            'tr',
            {},
            el('td', { className: 'mono' }, k.kernel_version),
            el('td', {}, k.format),
            el('td', { className: 'num' }, bytes(k.size)),
            el('td', {}, when(k.added_at)),
            el('td', {}, el('a', { href: k.btf_url }, 'full BTF')),
          ),
        ),
        kernels.markers.map((m) =>
          el(
            'tr',
            { className: 'marker' },
            el('td', { className: 'mono' }, m.kernel_version),
            el(
              'td',
              { colspan: 4 },
              el(
                'span',
                { className: `badge ${m.marker}` },
                m.marker === 'failed' ? 'failed: BTFHub has no BTF for it' : 'hasbtf: ships its own BTF',
              ),
            ),
          ),
        ),
      ),
    );
    cell.replaceChildren(list);
  } catch (error) {
    cell.replaceChildren(el('span', { className: 'error' }, error.message));
  }
}

async function downloadCoverageCsv() {
  const response = await fetch('/api/v1/coverage', { headers: { Accept: 'text/csv' } });
  if (!response.ok) return window.alert(await errorOf(response));
  saveBlob(await response.blob(), 'coverage.csv');
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---------------------------------------------------------------------------------------
// Kernel search

async function search(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const query = new URLSearchParams({ limit: '200' });
  for (const [name, value] of form) if (String(value).trim() !== '') query.set(name, String(value).trim());
  const summary = $('#search-summary');
  const table = $('#search-results');
  summary.classList.remove('error');
  summary.textContent = 'Searching…';
  try {
    const page = await getJson(`/api/v1/kernels?${query}`);
    summary.textContent =
      page.total === 0
        ? 'No kernel matches.'
        : `${page.total} kernel${page.total === 1 ? '' : 's'}${page.total > page.items.length ? ` (first ${page.items.length} shown)` : ''}.`;
    table.tBodies[0].replaceChildren(
      ...page.items.map((k) =>
        el(
          'tr',
          {},
          el('td', { className: 'mono' }, k.kernel_version),
          el('td', {}, k.distro),
          el('td', {}, k.distro_version),
          el('td', {}, k.arch),
          el('td', {}, k.format),
          el('td', { className: 'num' }, bytes(k.size)),
          el('td', {}, when(k.added_at)),
          el('td', {}, el('a', { href: k.btf_url }, 'full BTF')),
        ),
      ),
    );
    show(table, page.items.length > 0);
  } catch (error) {
    summary.textContent = error.message;
    summary.classList.add('error');
    show(table, false);
  }
}

// ---------------------------------------------------------------------------------------
// Compatibility check and bundles

function setStatus(text, progress) {
  show($('#compat-status'), text !== null);
  $('#compat-status-text').textContent = text ?? '';
  const bar = $('#compat-progress');
  if (progress && progress.total) {
    bar.max = progress.total;
    bar.value = progress.done;
    show(bar);
  } else {
    show(bar, false);
  }
}

function setError(message) {
  const note = $('#compat-error');
  note.textContent = message ?? '';
  show(note, Boolean(message));
}

/** POSTs the form to `path`; follows a 202 through the job until it ends. The final Response. */
async function submitJob(path, label) {
  const form = $('#compat-form');
  const data = new FormData();
  const files = form.querySelector('input[type=file]').files;
  if (files.length === 0) throw new Error('Choose at least one BPF object.');
  for (const file of files) data.append('object', file, file.name);
  for (const name of ['distro', 'distro_version', 'arch', 'kernel_version']) {
    const value = form.elements[name].value.trim();
    if (value !== '') data.append(name, value);
  }
  setStatus(`Uploading for ${label}…`);
  let response = await fetch(path, { method: 'POST', body: data });
  if (response.status !== 202) return response;
  const { job_id: id } = await response.json();
  for (;;) {
    const job = await getJson(`/api/v1/jobs/${encodeURIComponent(id)}`);
    const p = job.progress;
    setStatus(`${label}: ${job.state}${p ? `, ${p.done}${p.total ? ` of ${p.total}` : ''} kernels` : ''}…`, p);
    if (job.state === 'completed') {
      response = await fetch(job.result.url);
      return response;
    }
    if (job.state === 'failed') throw new Error(job.error?.message ?? 'the job failed');
    await sleep(500);
  }
}

async function checkCompat(event) {
  event.preventDefault();
  setError(null);
  show($('#compat-result'), false);
  const button = $('#compat-submit');
  button.disabled = true;
  try {
    const response = await submitJob('/api/v1/compat', 'compatibility check');
    if (!response.ok) throw new Error(await errorOf(response));
    renderReport(await response.json());
    setStatus(null);
  } catch (error) {
    setStatus(null);
    setError(error.message);
  } finally {
    button.disabled = false;
  }
}

async function downloadBundle() {
  setError(null);
  const button = $('#bundle-submit');
  button.disabled = true;
  try {
    const response = await submitJob('/api/v1/bundle', 'bundle');
    if (!response.ok) throw new Error(await errorOf(response));
    const kernels = response.headers.get('x-btfhub-kernels');
    const distinct = response.headers.get('x-btfhub-distinct');
    saveBlob(await response.blob(), 'btfhub-bundle.tar.gz');
    setStatus(`Bundle downloaded: ${kernels} kernels, ${distinct} distinct BTFs.`);
  } catch (error) {
    setStatus(null);
    setError(error.message);
  } finally {
    button.disabled = false;
  }
}

function renderReport(report) {
  const t = report.totals;
  const relocations = report.objects.reduce((n, o) => n + o.relocations, 0);
  $('#compat-headline').textContent =
    `${report.objects.map((o) => o.name).join(', ')}: ${relocations} CO-RE relocations on ${t.kernels} kernels. ` +
    `Loads on ${t.loadable}, every relocation resolves on ${t.all_resolved}` +
    (t.unreadable ? `, ${t.unreadable} unreadable.` : '.');

  $('#compat-summary tbody').replaceChildren(
    ...report.summary.map((g) => {
      const cell = (n, cls) => el('td', { className: `num${n > 0 && cls ? ` has-${cls}` : ''}` }, n);
      return el(
        'tr',
        {},
        el('td', {}, g.distro),
        el('td', {}, g.distro_version),
        el('td', {}, g.arch),
        cell(g.kernels),
        cell(g.loadable),
        cell(g.all_resolved),
        cell(g.kernels_with.field_missing, 'field_missing'),
        cell(g.kernels_with.type_missing, 'type_missing'),
        cell(g.kernels_with.enum_missing, 'enum_missing'),
        cell(g.kernels_with.ambiguous, 'ambiguous'),
        cell(g.kernels_with.error, 'error'),
        cell(g.unreadable, 'unreadable'),
      );
    }),
  );

  // Columns: the relocations that do not resolve on every readable kernel.
  const columns = report.relocations.map((r, index) => ({ ...r, index })).filter((r) => r.outcomes.resolved < t.kernels - t.unreadable);
  $('#matrix-note').textContent =
    columns.length === 0
      ? `Every one of the ${report.relocations.length} relocations resolves on every readable kernel.`
      : `${columns.length} of ${report.relocations.length} relocations do not resolve everywhere; the others resolve on every readable kernel. ` +
        'Hover a cell for the reason.';

  $('#matrix-legend').replaceChildren(
    ...[...CLASSES, 'unreadable'].map((c) =>
      el('span', { className: 'legend-item' }, el('span', { className: `cell ${c}` }), CLASS_LABELS[c]),
    ),
  );

  const head = el(
    'tr',
    {},
    el('th', { className: 'kernel-col' }, 'Kernel'),
    el('th', { className: 'loads-col' }, 'Loads'),
    columns.map((r) =>
      el('th', { className: 'relo', title: `${r.object} ${r.section} #${r.index} ${r.kind} ${r.path}` }, el('span', {}, `${r.path}`)),
    ),
  );
  $('#compat-matrix thead').replaceChildren(head);
  $('#compat-matrix tbody').replaceChildren(
    ...report.kernels.map((k) => {
      const name = `${k.distro}/${k.distro_version}/${k.arch}/${k.kernel_version}`;
      if (k.load_error !== undefined) {
        return el(
          'tr',
          { 'data-kernel': name },
          el('th', { className: 'kernel-col mono' }, name),
          el('td', { className: 'cell unreadable', title: k.load_error }, '–'),
          el('td', { colspan: Math.max(1, columns.length), className: 'muted small' }, `unreadable: ${k.load_error}`),
        );
      }
      const loads = k.failed_objects.length === 0;
      return el(
        'tr',
        { 'data-kernel': name },
        el('th', { className: 'kernel-col mono' }, name),
        el(
          'td',
          {
            className: `cell ${loads ? 'resolved' : 'ambiguous'}`,
            title: loads ? 'every object loads' : `libbpf refuses ${k.failed_objects.join(', ')}`,
          },
          loads ? 'yes' : 'no',
        ),
        columns.map((r) => {
          const result = k.results[r.index];
          const cls = result?.class ?? 'error';
          const title = `${r.path} (${r.kind}): ${CLASS_LABELS[cls]}${result?.reason ? `: ${result.reason}` : result?.value !== null && result?.value !== undefined ? ` = ${result.value}` : ''}`;
          return el('td', { className: `cell ${cls}`, title, 'data-class': cls });
        }),
      );
    }),
  );
  show($('#compat-result'));
}

// ---------------------------------------------------------------------------------------

$('#search-form').addEventListener('submit', search);
$('#compat-form').addEventListener('submit', checkCompat);
$('#bundle-submit').addEventListener('click', downloadBundle);
$('#coverage-csv').addEventListener('click', downloadCoverageCsv);
loadCoverage();
