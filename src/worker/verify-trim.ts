/**
 * Moved to the codec: src/btf/verify.ts. Re-exported here so existing imports keep working.
 */
export {
  describeMismatches, verifyTrim, type RelocationMismatch, type TrimVerification, type VerifyTrimOptions,
} from '../btf/verify.js';
