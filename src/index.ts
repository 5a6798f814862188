/**
 * btfhub-online as a library: the BTF/ELF codec (also at `btfhub-online/btf`) and the
 * service client (also at `btfhub-online/client`, where its own `TrimOptions` lives).
 */
export * from './btf/index.js';
export { BtfhubClient } from './client/index.js';
