/**
 * Kernel BTF generation (issue 13): from a debug vmlinux or a distribution's debug package
 * (`generateKernelBtf`), or from the configured debug repositories by release alone
 * (`findDebugPackage` + `downloadVerified`, or both through `generateFromRepositories`).
 */
export { GenerateError, type GenerateErrorCode, type GenerateFailure } from './errors.js';
export {
  DEFAULT_GENERATION_LIMITS,
  generateKernelBtf,
  sha256File,
  type GenerateKernelBtfInput,
  type GenerateKernelBtfOptions,
  type GeneratedKernelBtf,
  type GeneratedSource,
  type GenerateProgress,
  type GeneratePhase,
  type GenerationLimits,
} from './generate.js';
export type { ExtractionLimits, PackageFormat, PackageIdentity } from './extract.js';
export { CORE_KERNEL_STRUCTS, checkKernelBtf, lacksCoreStructs, undecodableBtf, type KernelBtfChecker } from './verify.js';
export { MIN_PAHOLE, paholeFlags, parsePaholeVersion, detectPaholeVersion, type PaholeVersion, type BtfEncodingOptions } from './pahole.js';
export { formForPath, kernelBtfFileBytes, type KernelBtfForm } from './output.js';
export { GenerationGate, MemoryFailureCache, type FailureCache, type GenerationGateOptions } from './generation-gate.js';
export { generateFromRepositories, type GeneratedFromRepository, type OnDemandOptions } from './on-demand.js';
export {
  debugRepositorySchema,
  generateConfigSchema,
  parseGenerateConfig,
  parseRepositoriesByDistro,
  type DebugRepository,
  type GenerateConfig,
  type GenerateConfigInput,
} from './repository/config.js';
export { findDebugPackage, type DebugPackage, type FindOptions } from './repository/find-package.js';
export { downloadVerified, fetchIndex, type DownloadOptions, type VerifiedDownload } from './repository/http.js';
