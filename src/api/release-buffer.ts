/**
 * Giving an ArrayBuffer's memory back when we know it is no longer used, instead of when a
 * garbage collection finds it dead.
 *
 * Why: Node's HTTP parser copies every received body chunk (up to 64 KiB) into a Buffer of
 * its own, allocated with malloc outside V8's heap. V8 frees such memory only when a
 * collection finds its ArrayBuffer dead; a chunk that outlived two scavenges (an upload still
 * arriving, a request waiting on its trim) waits for a full collection, which V8 starts once
 * ~64 MiB more external memory has piled up. Under the embedded soak the event loop held
 * 20-77 MB of such dead chunks, and malloc's heap, once grown to hold them, stays resident.
 *
 * Detaching the buffer (ArrayBuffer.prototype.transfer, Node 22 and later) frees it at once;
 * on Node 20, structuredClone with the buffer in its transfer list moves the memory to a
 * fresh ArrayBuffer that dies young, so the next scavenge frees it. Either way every view of
 * the buffer sees zero bytes from then on, so the caller must hold the only remaining use.
 */

type Transferable = ArrayBuffer & { transfer?: (newLength?: number) => ArrayBuffer };

/**
 * Frees `buffer`'s memory now (Node 22+) or at the next scavenge (Node 20), detaching it;
 * true if it was. False, doing nothing, for a SharedArrayBuffer, an empty or detached buffer,
 * or one the runtime will not detach (Node 24 refuses for its Buffer pool; Node 20's
 * structuredClone copies such a buffer instead of moving it). The caller must own `buffer`:
 * Node 22 lets even its Buffer pool be detached (UploadBudget.watch says how ours are known).
 */
export function releaseBuffer(buffer: ArrayBufferLike): boolean {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0) return false;
  try {
    const transferable = buffer as Transferable;
    if (typeof transferable.transfer === 'function') transferable.transfer(0);
    else structuredClone(buffer, { transfer: [buffer] });
  } catch {
    return false;
  }
  return buffer.byteLength === 0;
}
