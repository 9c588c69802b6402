/**
 * The stress runner must report a hang rather than hang itself: a durable() that never settles, or
 * one that neither resolves nor rejects after the log failed, is counted and reported within the
 * hang timeout. Driven with a stand-in producer whose durable() never settles.
 */
import { describe, expect, it } from 'vitest';
import { ShardFailedError } from '@shardlog/core';
import { runProducer, type LoadConfig } from '@shardlog/cli/internal/stress/load';

const cfg = (over: Partial<LoadConfig> = {}): LoadConfig => ({
  seed: 5,
  kind: 'binary',
  size: { kind: 'fixed', bytes: 64 },
  api: 'mixed',
  rate: 0,
  deadline: Infinity,
  quota: 2_000,
  ackMs: 0,
  hangMs: 300,
  ...over,
});

function standIn(opts: { failAfter?: number } = {}) {
  let seq = 0;
  const check = () => {
    if (opts.failAfter !== undefined && seq >= opts.failAfter) throw new ShardFailedError(0, 'writer failed (EIO)');
  };
  return {
    append: () => (check(), ++seq),
    appendMany: (a: unknown[]) => (check(), (seq += a.length)),
    durable: () => new Promise<void>(() => {}),
  };
}

describe('stress runner hang detection', () => {
  it('reports durable() calls that never settle instead of waiting forever', async () => {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const messages: { type: string }[] = [];
    const done = await runProducer(standIn() as never, 7, cfg(), stop, (m) => messages.push(m));
    expect(done.hung).toBeGreaterThan(0);
    expect(done.ack.count).toBe(0);
    expect(messages.at(-1)).toMatchObject({ type: 'done', producer: 7 });
  });

  it('reports a durable() that hangs after the log failed, where it must reject', async () => {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const done = await runProducer(standIn({ failAfter: 100 }) as never, 8, cfg(), stop, () => {});
    expect(done.appendError?.code).toBe('ERR_SHARDLOG_SHARD_FAILED');
    expect(done.probe).toBe('hung');
    expect(done.appended).toBeGreaterThanOrEqual(100); // it stopped at the first failing append
    expect(done.appended).toBeLessThan(100 + 16);
  });
});
