/**
 * The pino transport entry, `@shardlog/core/transport`:
 *
 *   const transport = pino.transport({ target: '@shardlog/core/transport', options: { dir: 'logs/app' } });
 *   const logger = pino(transport);
 *
 * pino runs this module in its transport worker thread (thread-stream) and writes into the
 * destination it returns. Two things differ from pino(shardlogDestination(...)) on the main thread:
 * pino adds `$context` and `pinoWillSendConfig` to every transport's options (accepted and ignored
 * here), and thread-stream hands over chunks of several lines at once, which are cut back into
 * lines for the framed format (one record per line) and into pieces of whole lines otherwise.
 */
import { once } from 'node:events';
import { shardlogDestination, ShardlogDestination, type ShardlogDestinationOptions } from './pino-destination.js';

/** Lines-format chunks longer than this are appended in pieces of whole lines (well under the smallest ring's entry limit). */
const PIECE_CHARS = 16 * 1024;

export interface ShardlogTransportOptions extends ShardlogDestinationOptions {
  /** Set by pino for every transport (its logger's context); ignored. */
  $context?: unknown;
  /** Set by pino for every transport; ignored. */
  pinoWillSendConfig?: unknown;
}

/** A destination whose write() takes thread-stream's chunks (several lines at once). */
class ChunkedDestination extends ShardlogDestination {
  private readonly perLine: boolean;

  constructor(opts: ShardlogDestinationOptions) {
    super(opts);
    this.perLine = (opts.log?.format ?? opts.format ?? 'lines') === 'framed';
  }

  override write(chunk: string | Uint8Array): boolean {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (!this.perLine && text.length <= PIECE_CHARS) {
      super.write(text);
      return true; // a refused line is counted in `dropped` and reported as 'error': never stall thread-stream
    }
    for (let start = 0; start < text.length; ) {
      const end = this.pieceEnd(text, start);
      super.write(text.slice(start, end));
      start = end;
    }
    return true;
  }

  /** Where the piece starting at `start` ends: after its line (framed), or after the last whole line within PIECE_CHARS. */
  private pieceEnd(text: string, start: number): number {
    if (!this.perLine) {
      if (text.length - start <= PIECE_CHARS) return text.length;
      const cut = text.lastIndexOf('\n', start + PIECE_CHARS - 1);
      if (cut >= start) return cut + 1;
    }
    const nl = text.indexOf('\n', start);
    return nl < 0 ? text.length : nl + 1;
  }
}

/** pino's transport entry: the destination, once its log is open (an open that fails rejects: pino reports it). */
export default async function shardlogTransport(options: ShardlogTransportOptions): Promise<ShardlogDestination> {
  const { $context: _context, pinoWillSendConfig: _willSend, ...rest } = options ?? ({} as ShardlogTransportOptions);
  const dest = new ChunkedDestination(rest);
  if (!dest.log) {
    const [event, err] = await Promise.race([once(dest, 'ready').then(() => ['ready'] as const), once(dest, 'error').then(([e]) => ['error', e as Error] as const)]);
    if (event === 'error') throw err;
  }
  return dest;
}

export { shardlogDestination };
