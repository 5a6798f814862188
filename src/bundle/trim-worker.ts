/**
 * A TrimPool worker thread: gets the objects once (workerData), then raw kernel BTFs, and
 * answers each with its trim outcome (trim-task.ts). The trimmed bytes are transferred back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fromPortable, trimKernelBytes, type PortableObject } from './trim-task.js';

export interface TrimRequest {
  id: number;
  source: string;
  raw: Uint8Array;
}

export type TrimReply =
  | { id: number; bytes: Uint8Array; sha256: string }
  | { id: number; stage: 'load' | 'trim' | 'verify'; message: string }
  | { id: number; crash: string };

const { objects: portable, verify } = workerData as { objects: PortableObject[]; verify: boolean };
const objects = portable.map(fromPortable);
const port = parentPort!;

port.on('message', (request: TrimRequest) => {
  let reply: TrimReply;
  try {
    reply = { id: request.id, ...trimKernelBytes(request.raw, request.source, objects, verify) };
  } catch (error) {
    reply = { id: request.id, crash: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  port.postMessage(reply, 'bytes' in reply ? [reply.bytes.buffer as ArrayBuffer] : []);
});
port.postMessage({ ready: true });
