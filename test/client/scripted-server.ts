/**
 * A small local HTTP server whose answers the test scripts: each request goes to the next
 * handler in the queue (or to `fallback`), and every request is recorded with its arrival
 * time, so retries, waits and bodies can be checked.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Test } from 'tap';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  at: number;
}

export type Handler = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;

export interface ScriptedServer {
  url: string;
  requests: RecordedRequest[];
  /** Handlers for the next requests, in order. */
  script(...handlers: Handler[]): void;
  /** Used when the script is empty (default: 500 "unscripted"). */
  fallback: Handler;
}

export async function startScriptedServer(t: Test): Promise<ScriptedServer> {
  const queue: Handler[] = [];
  const sockets = new Set<Socket>();
  const state: ScriptedServer = {
    url: '',
    requests: [],
    script: (...handlers) => queue.push(...handlers),
    fallback: (_req, res) => json(res, 500, { error: 'internal_error', message: 'unscripted request' }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: Date.now(),
      };
      state.requests.push(recorded);
      const handler = queue.shift() ?? state.fallback;
      void Promise.resolve(handler(recorded, res)).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

export function binary(res: ServerResponse, bytes: Uint8Array, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
  res.end(Buffer.from(bytes));
}

/** Answers `status` with the API's error body. */
export const fail =
  (status: number, error: string, message: string, options: { field?: string; headers?: Record<string, string> } = {}): Handler =>
  (_req, res) =>
    json(res, status, { error, message, ...(options.field !== undefined && { field: options.field }) }, options.headers);

/** Breaks the connection without an answer. */
export const hangUp: Handler = (_req, res) => {
  res.socket?.destroy();
};

/** Never answers (the client's timeout must end it). */
export const silence: Handler = () => {};
