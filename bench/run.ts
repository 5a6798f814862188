/**
 * `npm run bench`: every benchmark, each printing its figures against its reference
 * measured in the same run. Figures are printed, never asserted.
 * `npm run bench -- cli codec` runs only the named ones (codec, bundle, cold, api, cli).
 */
import { runApiBench } from './api.js';
import { runBundleBench } from './bundle.js';
import { runCliBench } from './cli.js';
import { runCodecBench } from './codec.js';
import { runColdBench } from './cold.js';

const BENCHES: Record<string, () => Promise<unknown>> = {
  codec: runCodecBench,
  cli: runCliBench,
  bundle: runBundleBench,
  cold: runColdBench,
  api: runApiBench,
};

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
for (const [name, bench] of Object.entries(BENCHES)) {
  if (asked.length === 0 || asked.includes(name)) await bench();
}
