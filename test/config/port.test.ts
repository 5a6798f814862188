/**
 * PORT, which platforms and the original BTFHub Online's deployment set, is the port when
 * BTFHUB_PORT is unset; BTFHUB_PORT (and the CLI's --port, an override) win over it.
 */
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config/schema.js';

t.test('PORT when BTFHUB_PORT is unset', async (t) => {
  t.equal(loadConfig({}).port, 8080, 'the default without either');
  t.equal(loadConfig({ PORT: '3000' }).port, 3000);
  t.equal(loadConfig({ PORT: ' 3000 ', BTFHUB_PORT: '' }).port, 3000, 'an empty BTFHUB_PORT is unset');
  t.equal(loadConfig({ PORT: '3000', BTFHUB_PORT: '9000' }).port, 9000, 'BTFHUB_PORT wins');
  t.equal(loadConfig({ PORT: '3000' }, { BTFHUB_PORT: '9100' }).port, 9100, 'so does --port');
  t.equal(loadConfig({ PORT: '' }).port, 8080, 'an empty PORT is unset too');
});

t.test('a bad PORT is named as PORT', async (t) => {
  const error = t.throws(() => loadConfig({ PORT: 'http' })) as ConfigError;
  t.type(error, ConfigError);
  t.match(error.message, /PORT \(BTFHUB_PORT unset\): expected an integer between 1 and 65535, got "http"/);
  t.doesNotThrow(() => loadConfig({ PORT: 'http', BTFHUB_PORT: '8080' }), 'ignored when BTFHUB_PORT is set');
});

t.test('docs/CONFIGURATION.md documents every fallback variable', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { CONFIG_ENV_FALLBACKS } = await import('../../src/config/schema.js');
  const doc = await readFile(new URL('../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
  for (const fallback of Object.values(CONFIG_ENV_FALLBACKS)) t.match(doc, `| \`${fallback}\` |`, `${fallback} is documented`);
});
