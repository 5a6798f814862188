/**
 * The configuration of a service command: the environment, with the values of the command's
 * flags on top (each flag sets one BTFHUB_* variable). A bad value is a usage error (exit 2)
 * with one line per bad setting, naming the flag when the value came from one.
 */
import { type Config, type ConfigEnvVar, ConfigError, loadConfig } from '../config/schema.js';
import { UsageError } from './errors.js';

/** Flags given on the command line: flag name -> the variable it sets and its value. */
export type ConfigFlags = Readonly<Record<string, { variable: ConfigEnvVar; value: string | undefined }>>;

export function loadConfigWithFlags(env: Readonly<Record<string, string | undefined>>, flags: ConfigFlags): Config {
  const overrides: Partial<Record<ConfigEnvVar, string>> = {};
  for (const { variable, value } of Object.values(flags)) if (value !== undefined) overrides[variable] = value;
  try {
    return loadConfig(env, overrides);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const lines = error.issues.map((issue) => {
      const flag = Object.entries(flags).find(([, f]) => f.variable === issue.variable && f.value !== undefined)?.[0];
      return `  ${flag === undefined ? issue.variable : `--${flag} (${issue.variable})`}: ${issue.message}`;
    });
    throw new UsageError(`invalid configuration:\n${lines.join('\n')}`);
  }
}

/** The configuration for a command whose only config flag is --data. */
export function loadConfigWithDataFlag(env: Readonly<Record<string, string | undefined>>, data: string | undefined): Config {
  return loadConfigWithFlags(env, { data: { variable: 'BTFHUB_DATA_DIR', value: data } });
}
