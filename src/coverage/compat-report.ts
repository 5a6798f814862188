/**
 * A CompatReport (src/coverage/compat.ts) as the API serves it: snake_case like every other
 * body, the per-relocation counts folded into the relocation list, and the per-kernel
 * results aligned with that list. Written once by the compat job into the store
 * (`reports/compat/<id>.json`) and served as is; openapi.yaml `CompatReport` describes it.
 */
import type { KernelFilter } from '../catalog/catalog.js';
import type { ClassCounts, CompatReport } from './compat.js';

export interface CompatReportBody {
  job_id: string;
  objects: { name: string; relocations: number }[];
  filter: { distro?: string; distro_version?: string; arch?: string; kernel_version?: string };
  totals: { kernels: number; unreadable: number; loadable: number; all_resolved: number };
  summary: {
    distro: string;
    distro_version: string;
    arch: string;
    kernels: number;
    unreadable: number;
    loadable: number;
    all_resolved: number;
    kernels_with: ClassCounts;
    relocations: ClassCounts;
  }[];
  relocations: {
    object: string;
    section: string;
    index: number;
    insn_off: number;
    kind: string;
    root: string;
    access: string;
    path: string;
    outcomes: ClassCounts;
  }[];
  kernels: {
    distro: string;
    distro_version: string;
    arch: string;
    kernel_version: string;
    load_error?: string;
    counts: ClassCounts;
    failed_objects: string[];
    results: { class: string; value: number | string | null; reason?: string }[];
  }[];
  duration_ms: number;
}

export function filterBody(filter: KernelFilter): CompatReportBody['filter'] {
  return {
    ...(filter.distro !== undefined && { distro: filter.distro }),
    ...(filter.distroVersion !== undefined && { distro_version: filter.distroVersion }),
    ...(filter.arch !== undefined && { arch: filter.arch }),
    ...(filter.kernelPrefix !== undefined && { kernel_version: filter.kernelPrefix }),
  };
}

export function compatReportBody(jobId: string, filter: KernelFilter, report: CompatReport): CompatReportBody {
  const summary = report.groups.map((g) => ({
    distro: g.distro,
    distro_version: g.distroVersion,
    arch: g.arch,
    kernels: g.kernels,
    unreadable: g.unreadable,
    loadable: g.loadable,
    all_resolved: g.allResolved,
    kernels_with: g.kernelsWith,
    relocations: g.relocations,
  }));
  const sum = (pick: (g: (typeof summary)[number]) => number) => summary.reduce((n, g) => n + pick(g), 0);
  return {
    job_id: jobId,
    objects: report.objects,
    filter: filterBody(filter),
    totals: { kernels: sum((g) => g.kernels), unreadable: sum((g) => g.unreadable), loadable: sum((g) => g.loadable), all_resolved: sum((g) => g.all_resolved) },
    summary,
    relocations: report.relocations.map((r, i) => ({
      object: r.object,
      section: r.section,
      index: r.index,
      insn_off: r.insnOff,
      kind: r.kind,
      root: r.root,
      access: r.access,
      path: r.path,
      outcomes: report.byRelocation[i]!,
    })),
    kernels: report.kernels.map((k) => ({
      distro: k.ref.distro,
      distro_version: k.ref.distroVersion,
      arch: k.ref.arch,
      kernel_version: k.ref.kernel,
      ...(k.loadError !== undefined && { load_error: k.loadError }),
      counts: k.counts,
      failed_objects: k.failedObjects,
      results: k.results.map((r) => (r.reason === undefined || r.class === 'resolved' ? { class: r.class, value: r.value } : { class: r.class, value: r.value, reason: r.reason })),
    })),
    duration_ms: Math.round(report.durationMs),
  };
}
