/**
 * A TCP proxy in front of a test server that can be told to fail: pass traffic through,
 * refuse (reset every connection at once), or cut each connection after N bytes from the
 * client (a PUT that dies halfway). Changing the mode drops the connections already open,
 * so pooled keep-alive connections see the new mode too.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type FaultMode = { kind: 'pass' } | { kind: 'refuse' } | { kind: 'cut'; afterBytes: number };

export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  setMode(mode: FaultMode): void;
  /** Connections cut or refused so far. */
  faults(): number;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamPort: number): Promise<FaultProxy> {
  let mode: FaultMode = { kind: 'pass' };
  let faults = 0;
  const open = new Set<Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => {});
  };
  const server: Server = createServer((client) => {
    track(client);
    if (mode.kind === 'refuse') {
      faults++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(upstreamPort, '127.0.0.1');
    track(upstream);
    const limit = mode.kind === 'cut' ? mode.afterBytes : Number.POSITIVE_INFINITY;
    let forwarded = 0;
    client.on('data', (chunk: Buffer) => {
      if (forwarded + chunk.length > limit) {
        upstream.write(chunk.subarray(0, Math.max(0, limit - forwarded)));
        faults++;
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      forwarded += chunk.length;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    setMode(next) {
      mode = next;
      for (const socket of open) socket.destroy();
    },
    faults: () => faults,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
