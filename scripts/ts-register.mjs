/**
 * `node --import ./scripts/ts-register.mjs file.ts`: runs TypeScript sources
 * (ts-hooks.mjs says how). Tests that start a child from sources pass `tsLoaderArgs()`
 * (scripts/ts-loader.ts), which names this file by its absolute URL.
 */
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
