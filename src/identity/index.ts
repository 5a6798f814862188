/** Kernel identity: validation and archive aliases (kernel-identity), host detection (os-release). */
export * from './kernel-identity.js';
export { kernelReleaseHint, DEBIAN_KERNEL_SERIES, type KernelReleaseHint } from './kernel-release.js';
export { hostIdentityFromOsRelease, parseOsRelease, type HostFacts, type HostIdentity } from './os-release.js';
