// Before `tap` runs the suite: rebuild tap's test class when the plugins it was built with are
// not the ones package.json configures (after every `npm ci`: npm installs tap's default
// build, whose plugins include @tapjs/typescript, which package.json removes).
//
// Why not leave it to tap: the runner notices the difference and rebuilds, but only after it
// has computed the test processes' node options from the old build, so the whole first run
// loads @tapjs/typescript's loader into every test file's process on top of ours
// (scripts/ts-register.mjs): ~0.75 s more per process, 100 s more per suite on 2 cores
// (480 s against 580 s measured). `tap build` here, in its own process, first.
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { TapConfig } from '@tapjs/config';
import { signature } from '@tapjs/test';

const config = await TapConfig.load();
if (config.pluginSignature !== signature) {
  process.stderr.write('tap-plugins: rebuilding tap for the configured plugins (tap build)\n');
  const built = spawnSync('npx', ['tap', 'build'], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
