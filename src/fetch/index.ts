/**
 * The BTF lookup of `btfhub fetch`, as a library: four layers (configured file, the kernel's
 * own BTF, a local bundle, the service), each a small module returning a LayerResult, and
 * the chain that tries them in order, decodes, trims on request and writes atomically.
 */
export {
  fetchBtf,
  reportJson,
  writeCreatingDirectory,
  type FetchOptions,
  type FetchReport,
  type FetchResult,
  type IdentityReport,
  type LayerOutcome,
  type LayerReport,
} from './chain.js';
export { configuredLayer, type ConfiguredLayerOptions } from './configured.js';
export { kernelLayer, KERNEL_BTF_PATH, type KernelLayerOptions } from './kernel.js';
export { bundleLayer, bundleSkipReason, MAX_BUNDLE_BYTES, type BundleLayerOptions } from './bundle.js';
export { serviceLayer, serviceSkipReason, DEFAULT_SERVICE_TIMEOUT_MS, type ServiceLayerOptions } from './service.js';
export { kernelKey, LAYERS, type LayerName, type LayerResult } from './layer.js';
