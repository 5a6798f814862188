/**
 * Crash windows of a kernel's replacement (issue 10): an admin upload over an existing kernel,
 * `btfhub import` copying a changed archive file, and the host kernel's registration each
 * write the new content, then switch the catalog's row. A failure injected at either step (the
 * store's write of the new content, the catalog's upsert) must leave the old kernel fully
 * served: every trim equal to bpftool's on the old content, byte for byte, never a mix and
 * never a 500. Running the step again completes the replacement: trims equal to bpftool's on
 * the new content.
 *
 * The faults are wrappers over the real store and catalog that throw at the chosen call, as
 * a process killed at that point would leave things (the later step never runs).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Btf } from '../../src/btf/index.js';
import type { Catalog, KernelRef } from '../../src/catalog/catalog.js';
import { HISTORY_VARIANTS, KernelEditor } from '../../src/coverage/variants.js';
import { importKernels } from '../../src/kernels/import.js';
import { registerHostKernel } from '../../src/kernels/registry.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { sha256Hex } from '../../src/storage/integrity.js';
import { kernelKey } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { runBpftoolMinCore, type FixtureSet } from '../helpers/fixtures.js';
import { btfForm, fixtureObject, multipart, setupApi, why } from '../api/helpers.js';

const ADMIN = 'crash-windows-admin-token-0123456789';

type Step = 'store' | 'catalog';

/** Where the next replacement fails: the store's write of kernel content, or the catalog's upsert; null: nowhere. */
interface Faults {
  at: Step | null;
}

function faultyStore(store: ObjectStore, faults: Faults): ObjectStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'put' || property === 'putFile') {
        return (key: string, ...rest: unknown[]) =>
          faults.at === 'store' && key.startsWith('kernel-files/')
            ? Promise.reject(new Error(`killed while writing ${key}`))
            : (value as (...a: unknown[]) => unknown).call(target, key, ...rest);
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

function faultyCatalog<C extends Catalog>(catalog: C, faults: Faults): C {
  return new Proxy(catalog, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'upsertKernel') {
        return (...args: unknown[]) =>
          faults.at === 'catalog'
            ? Promise.reject(new Error('killed between the store and the catalog'))
            : (value as (...a: unknown[]) => unknown).apply(target, args);
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/** The kernel before 5.14 (task_struct.state): tools_like's trim on it differs from the fixture kernel's. */
function replacementBtf(fixtures: FixtureSet): Uint8Array {
  return new KernelEditor(Btf.parse(fixtures.vmlinux)).variant(HISTORY_VARIANTS.oldState.edits);
}

/** What `bpftool gen min_core_btf` makes of tools_like on `kernel`: the oracle. */
async function bpftoolTrim(t: Test, fixtures: FixtureSet, kernel: Uint8Array): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'btfhub-crash-oracle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'vmlinux.btf');
  await writeFile(path, kernel);
  const result = await runBpftoolMinCore(path, [fixtures.objects.get('tools_like')!.path]);
  if (!result.ok) throw new Error(`bpftool refused: ${result.stderr}`);
  return result.btf;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

const fieldsOf = (ref: KernelRef) => ({
  distro: ref.distro,
  distro_version: ref.distroVersion,
  arch: ref.arch,
  kernel_version: ref.kernel,
});

/**
 * A service whose store and catalog fail where `faults` says, plus what the checks need: the
 * trim of tools_like answered for `ref` (must be 200 and equal `want`), and the catalog row.
 */
async function service(t: Test) {
  const faults: Faults = { at: null };
  const api = await setupApi(t, {
    config: { adminToken: ADMIN },
    wrap: ({ store, catalog }) => ({ store: faultyStore(store, faults), catalog: faultyCatalog(catalog, faults) }),
  });
  const { app, fixtures } = api;
  const oldBtf = fixtures.vmlinux;
  const newBtf = replacementBtf(fixtures);
  const want = { old: await bpftoolTrim(t, fixtures, oldBtf), new: await bpftoolTrim(t, fixtures, newBtf) };
  t.notOk(same(want.old, want.new), 'the two contents trim differently (a mix would show)');

  /** Every answer for `ref` is the trim of `content`: POST (new and cached), GET, and the kernel download. */
  async function servedAs(t: Test, ref: KernelRef, content: 'old' | 'new', when: string): Promise<void> {
    const bytes = content === 'old' ? oldBtf : newBtf;
    for (const round of ['first', 'again']) {
      const post = await app.inject({
        method: 'POST',
        url: '/api/v1/btf',
        ...btfForm([fixtureObject(fixtures, 'tools_like')], fieldsOf(ref)),
      });
      t.equal(post.statusCode, 200, `${when}: POST (${round}) ${why(post)}`);
      t.ok(same(post.rawPayload, want[content]), `${when}: POST (${round}) answers bpftool's trim of the ${content} kernel`);
      const hash = String(post.headers['x-btfhub-objects-hash']);
      const get = await app.inject(`/api/v1/btf/${hash}/${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}`);
      t.equal(get.statusCode, 200, `${when}: GET ${why(get)}`);
      t.ok(same(get.rawPayload, want[content]), `${when}: GET answers the same`);
    }
    const download = await app.inject(`/api/v1/kernels/${ref.distro}/${ref.distroVersion}/${ref.arch}/${ref.kernel}/btf`);
    t.equal(download.statusCode, 200, `${when}: download ${why(download)}`);
    t.ok(same(download.rawPayload, bytes), `${when}: the ${content} kernel is downloaded whole`);
    const record = await api.catalog.getKernel(ref);
    t.equal(record?.sha256, sha256Hex(bytes), `${when}: the catalog names the ${content} content`);
    t.ok(same((await api.store.get(record!.storageKey))!, bytes), `${when}: and the store holds it where the catalog says`);
  }
  return { ...api, faults, oldBtf, newBtf, servedAs };
}

for (const step of ['store', 'catalog'] as const) {
  t.test(`admin replacement (POST /api/v1/kernels) failing at the ${step} step`, async (t) => {
    const { app, faults, oldBtf, newBtf, servedAs } = await service(t);
    const ref: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-400-generic' };
    const upload = (bytes: Uint8Array) => {
      const body = multipart([
        ...Object.entries(fieldsOf(ref)).map(([name, data]) => ({ name, data })),
        { name: 'btf', filename: 'vmlinux', data: bytes },
      ]);
      return app.inject({
        method: 'POST',
        url: '/api/v1/kernels',
        payload: body.payload,
        headers: { ...body.headers, authorization: `Bearer ${ADMIN}` },
      });
    };
    t.equal((await upload(oldBtf)).statusCode, 201);
    await servedAs(t, ref, 'old', 'before');

    faults.at = step;
    const crashed = await upload(newBtf);
    t.ok(crashed.statusCode >= 500, `the replacement fails: ${why(crashed)}`);
    faults.at = null;
    await servedAs(t, ref, 'old', `after a failure at the ${step} step`);

    const retried = await upload(newBtf);
    t.match(retried.json(), { outcome: 'updated' }, `uploading again completes it: ${why(retried)}`);
    await servedAs(t, ref, 'new', 'after the replacement');
  });

  t.test(`btfhub import copying a changed archive file, failing at the ${step} step`, async (t) => {
    const { store, catalog, faults, oldBtf, newBtf, servedAs } = await service(t);
    const ref: KernelRef = { distro: 'ubuntu', distroVersion: '22.04', arch: 'x86_64', kernel: '5.15.0-401-generic' };
    const dir = await mkdtemp(join(tmpdir(), 'btfhub-crash-archive-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const key = kernelKey(ref, 'btf');
    const source = new FsObjectStore(dir);
    const target = { store: faultyStore(store, faults) };
    const importing = () => importKernels(source, target, faultyCatalog(catalog, faults));
    await source.put(key, oldBtf);
    t.match(await importing(), { added: 1, copied: 1 });
    await servedAs(t, ref, 'old', 'imported');

    await source.put(key, newBtf);
    faults.at = step;
    await t.rejects(importing(), /killed/, 'the import stops at the failure');
    faults.at = null;
    t.equal(await store.head(key), null, 'nothing was written at the identity key');
    await servedAs(t, ref, 'old', `after a failure at the ${step} step`);

    t.match(await importing(), { updated: 1 }, 'importing again completes it');
    await servedAs(t, ref, 'new', 'after the replacement');
    t.match(await importing(), { unchanged: 1, copied: 0 }, 'and a further run changes nothing');
  });

  t.test(`host kernel registration with a new BTF, failing at the ${step} step`, async (t) => {
    const { store, catalog, faults, oldBtf, newBtf, servedAs } = await service(t);
    const ref: KernelRef = { distro: 'debian', distroVersion: '12', arch: 'x86_64', kernel: '6.1.0-18-amd64' };
    const dir = await mkdtemp(join(tmpdir(), 'btfhub-crash-host-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const osReleasePath = join(dir, 'os-release');
    await writeFile(osReleasePath, 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n');
    const btfPath = join(dir, 'vmlinux');
    const register = () =>
      registerHostKernel(faultyStore(store, faults), faultyCatalog(catalog, faults), {
        btfPath,
        osReleasePath,
        unameRelease: ref.kernel,
        unameMachine: 'x86_64',
      });
    await writeFile(btfPath, oldBtf);
    t.match(await register(), { ref, outcome: 'added', stored: true });
    await servedAs(t, ref, 'old', 'registered');

    // The host booted the same release with another BTF (a rebuilt package, a live patch).
    await writeFile(btfPath, newBtf);
    faults.at = step;
    await t.rejects(register(), /killed/, 'the registration fails');
    faults.at = null;
    t.equal(await store.head(kernelKey(ref, 'btf')), null, 'nothing was written at the identity key');
    await servedAs(t, ref, 'old', `after a failure at the ${step} step`);

    t.match(await register(), { outcome: 'updated' }, 'the next start completes it');
    await servedAs(t, ref, 'new', 'after the replacement');
  });
}
