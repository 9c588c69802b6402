/**
 * The worker module of the "thread-stream alone" run: thread-stream loads it in its worker thread
 * and writes everything the main thread sends into the stream it returns, an async sonic-boom on
 * the file (the same destination pino/file builds, without pino).
 */
import { once } from 'node:events';
import { SonicBoom } from './peers.js';

export default async function open(opts: { dest: string }): Promise<SonicBoom> {
  const s = new SonicBoom({ dest: opts.dest, sync: false });
  await once(s, 'ready');
  return s;
}
