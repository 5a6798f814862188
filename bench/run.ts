/**
 * `npm run bench`: every benchmark, each printing its figures against its reference
 * measured in the same run. Figures are printed, never asserted.
 */
import { runCodecBench } from './codec.js';

await runCodecBench();
