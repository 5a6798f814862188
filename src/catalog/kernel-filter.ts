/**
 * The WHERE clause of `listKernels`, shared by both backends. They differ only in how a
 * parameter is written (`?` in SQLite, `$1` in PostgreSQL), so the caller passes that in.
 */
import type { KernelFilter } from './catalog.js';
import { LIKE_ESCAPE, likePrefixPattern } from './like-pattern.js';

export interface SqlCondition {
  /** `WHERE ...`, or '' when the filter is empty. */
  where: string;
  params: string[];
}

export function kernelFilterCondition(filter: KernelFilter, placeholder: (index: number) => string): SqlCondition {
  const conditions: string[] = [];
  const params: string[] = [];
  const add = (sql: (p: string) => string, value: string): void => {
    params.push(value);
    conditions.push(sql(placeholder(params.length)));
  };
  if (filter.distro !== undefined) add((p) => `distro = ${p}`, filter.distro);
  if (filter.distroVersion !== undefined) add((p) => `distro_version = ${p}`, filter.distroVersion);
  if (filter.arch !== undefined) add((p) => `arch = ${p}`, filter.arch);
  if (filter.kernelPrefix !== undefined && filter.kernelPrefix !== '') {
    add((p) => `kernel LIKE ${p} ESCAPE '${LIKE_ESCAPE}'`, likePrefixPattern(filter.kernelPrefix));
  }
  return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', params };
}
