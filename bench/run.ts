/**
 * `npm run bench`: every benchmark, each printing its figures against its reference
 * measured in the same run. Figures are printed, never asserted.
 */
import { runApiBench } from './api.js';
import { runBundleBench } from './bundle.js';
import { runCodecBench } from './codec.js';

await runCodecBench();
await runBundleBench();
await runApiBench();
