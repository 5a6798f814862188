/** Kernel identity: validation and archive aliases (kernel-identity), host detection (os-release, host). */
export * from './kernel-identity.js';
export { kernelReleaseHint, DEBIAN_KERNEL_SERIES, type KernelReleaseHint } from './kernel-release.js';
export { hostIdentityFromOsRelease, parseOsRelease, type HostFacts, type HostIdentity } from './os-release.js';
export {
  detectHostIdentity,
  readHostFacts,
  resolveHostIdentity,
  KERNEL_RELEASE_PATH,
  OS_RELEASE_PATHS,
  type HostFactsFound,
  type HostOverrides,
  type HostProbeOptions,
  type ResolvedHostIdentity,
} from './host.js';
