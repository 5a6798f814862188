/**
 * Worker thread for the contract's concurrent-migration test: opens its own catalog on the
 * database it is given, waits at the shared gate until the test opens it, migrates, reports.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openCatalog, type DatabaseConfig } from '../../src/catalog/index.js';

// Only meaningful as a worker; `npx tap test/catalog` would otherwise run it as a test file.
if (isMainThread) process.exit(0);

const { database, gate } = workerData as { database: DatabaseConfig; gate: Int32Array };
const catalog = await openCatalog(database);
try {
  Atomics.wait(gate, 0, 0);
  await catalog.migrate();
  parentPort?.postMessage('migrated');
} catch (error) {
  parentPort?.postMessage(`failed: ${error instanceof Error ? error.stack : String(error)}`);
} finally {
  await catalog.close();
}
