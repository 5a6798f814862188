/**
 * Makes V8 count the shared memory uploads are joined into (uploads.ts,
 * SHARED_JOIN_MIN_BYTES) as it counts an ordinary buffer's.
 *
 * Why: V8 starts a full collection when its heap nears its limit or when the external memory
 * of ArrayBuffers has grown by ~64 MiB since the last one; a SharedArrayBuffer's memory does
 * not count towards the latter. A joined upload lives for its request (a check, a store
 * write, a trim: tens of ms), outlives two scavenges and is promoted, so once dead it waits
 * for a full collection. Those used to come often, started by the received body chunks'
 * external memory; since the chunks are freed as each request is answered
 * (UploadBudget.releaseChunks) they come rarely, and under the embedded soak dead joined
 * uploads piled up to 130 MB (162 of them).
 *
 * So each joined upload of WEIGHED_MIN_BYTES or more carries an ordinary ArrayBuffer of its
 * size that nothing writes: what V8's embedder API does with
 * AdjustAmountOfExternalAllocatedMemory, done from JavaScript. It costs no memory where
 * buffers that big are zero-filled mappings of their own (calloc; the image's
 * MALLOC_MMAP_THRESHOLD_), whose pages the kernel provides only when touched. It lives exactly
 * as long as the upload's SharedArrayBuffer (a WeakMap entry of it), so V8 sees the uploads'
 * bytes come and go, and collects them with its own incremental marking.
 */

/**
 * Uploads smaller than this carry no weight: below the image's MALLOC_MMAP_THRESHOLD_ (128 KiB)
 * malloc would hand the weight out of its heap and zero it, real memory for as long as the
 * upload lives. (Without that setting glibc raises its threshold as big buffers are freed, and
 * weights may come from its heap too: docs/CONFIGURATION.md, Process memory.)
 */
export const WEIGHED_MIN_BYTES = 128 * 1024;

const weights = new WeakMap<SharedArrayBuffer, ArrayBuffer>();

/** Makes `shared`'s bytes count as external memory for as long as it lives, if it is WEIGHED_MIN_BYTES or more. */
export function weighShared(shared: SharedArrayBuffer): void {
  if (shared.byteLength < WEIGHED_MIN_BYTES) return;
  weights.set(shared, new ArrayBuffer(shared.byteLength));
}

/** Whether `shared` carries a weight (tests). */
export function isWeighed(shared: SharedArrayBuffer): boolean {
  return weights.has(shared);
}
