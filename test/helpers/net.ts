/**
 * A TCP port free on 127.0.0.1 right now, for a child process to listen on. The port is
 * released before it is returned (the child binds it), so another process could take it in
 * between: good enough on a test machine, where ports are handed out in sequence.
 */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
