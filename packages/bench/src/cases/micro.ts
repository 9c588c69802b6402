/**
 * mitata micro-benchmarks of the hot path, in one child process (run with --expose-gc, so mitata
 * collects garbage between benchmarks and counts heap bytes per iteration).
 *
 *   append ascii 100 B      log.append(string): encode + reserve + publish
 *   append utf8 100 B       multi-byte UTF-8 string of 100 bytes
 *   append binary 100 B     log.append(Uint8Array)
 *   append json 1 KiB       a 1 KiB JSON line
 *   appendMany 64 x 100 B   one call per 64 entries, reported per entry
 *   crc32c 1 KiB            crc32cUpdate over 1 KiB (what the writer thread spends per KiB)
 * plus the harness's floor (an empty function in the same loop): mitata's heap counter reads
 * used_heap_size + malloced_memory around each batch, which moves by a few bytes per iteration
 * even for a function that allocates nothing; the allocation run (cases/alloc.ts) is the exact one.
 *
 * The log is exclusive to this thread (no producerHandle() handed out), one shard, sync 'none', a
 * 64 MiB ring. The writer thread cannot keep up with a producer that does nothing but append, so
 * the ring would fill and the producer would block; to measure the append itself, mitata's
 * parameter hook (run outside the timed batch) waits until the ring is nearly empty before each
 * batch of 4096 iterations. The ring is filled once before measuring, so no page is touched for
 * the first time inside a timed batch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { openLog, type Log } from '@shardlog/core';
import { crc32cUpdate } from '@shardlog/workers';
import { measure } from 'mitata';
import { binaryPool, POOL_MASK, stringPool } from '../entries.js';
import type { MicroResult, MicroRow, MicroSpec } from '../types.js';

const RING = 64 << 20;
const BATCH = 4096;
const MANY = 64;

function pending(log: Log): number {
  return log.stats().shards[0].pendingBytes;
}

/** Resolves once the writer has taken all but a little of what is in the ring. */
async function drained(log: Log): Promise<void> {
  while (pending(log) > RING / 8) await new Promise((r) => setTimeout(r, 1));
}

export async function runMicro(spec: MicroSpec): Promise<MicroResult> {
  fs.mkdirSync(spec.dir, { recursive: true });
  const log = await openLog({ dir: path.join(spec.dir, 'log'), shards: 1, sync: 'none', ringBytes: RING });
  const ascii = stringPool('ascii');
  const utf8 = stringPool('utf8');
  const json = stringPool('json1k');
  const bin = binaryPool();
  // touch every page of the ring once (producer and writer), outside any measurement
  for (let i = 0; i < (RING / 120) * 1.2; i++) log.append(bin[i & POOL_MASK]);
  await drained(log);

  // mitata's own heap counter (what its bench() uses): bytes allocated per iteration of a batch
  const heap = (): number => {
    const m = getHeapStatistics();
    return m.used_heap_size;
  };
  const opts = { min_cpu_time: spec.minCpuMs * 1e6, batch_samples: BATCH, max_samples: 1e9, heap };
  const rows: MicroRow[] = [];

  /** A benchmark of fn(param) where the parameter hook also keeps the ring from filling. */
  async function appendBench<T>(name: string, pool: T[], fn: (x: T) => unknown, perCall = 1): Promise<void> {
    let k = 0;
    const stats = await measure(
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mitata's types miss the parameterised yield
      function* (): any {
        yield {
          [0]: () => {
            const x = pool[k++ % pool.length];
            // once per batch (the hook runs BATCH times before each timed batch)
            if ((k & (BATCH - 1)) === 0 && pending(log) > RING / 4) return drained(log).then(() => x);
            return x;
          },
          bench: fn,
        };
      },
      opts,
    );
    rows.push(toRow(name, stats, perCall, 'entry'));
  }

  // the harness's own floor: the same parameterised loop around a function that does nothing
  let sinkN = 0;
  await appendBench('(floor: empty function, same harness)', ascii, (s) => {
    sinkN += s.length & 1;
  });
  await appendBench('append ascii 100 B', ascii, (s) => log.append(s));
  await appendBench('append utf8 100 B', utf8, (s) => log.append(s));
  await appendBench('append binary 100 B', bin, (b) => log.append(b));
  await appendBench('append json 1 KiB', json, (s) => log.append(s));
  const groups: string[][] = [];
  for (let g = 0; g < 64; g++) groups.push(Array.from({ length: MANY }, (_, i) => ascii[(g * MANY + i) & POOL_MASK]));
  await appendBench(`appendMany ${MANY} x ascii 100 B`, groups, (g) => log.appendMany(g), MANY);

  const kib = new Uint8Array(1024);
  for (let i = 0; i < kib.length; i++) kib[i] = (i * 31) & 0xff;
  let sink = 0;
  const crc = await measure(() => {
    sink ^= crc32cUpdate(0, kib, 0, 1024);
  }, opts);
  rows.push(toRow('crc32c 1 KiB', crc, 1, 'KiB'));
  if (sink === 0.5 || sinkN === 0.5) process.stdout.write(''); // keep the results alive

  await log.close();
  return { kind: 'micro', id: spec.id, label: spec.label, rows, cpu: os.cpus()[0]?.model ?? 'unknown' };
}

type Stats = Awaited<ReturnType<typeof measure>>;

function toRow(name: string, s: Stats, perCall: number, unit: 'entry' | 'KiB'): MicroRow {
  return {
    name,
    ns: s.avg / perCall,
    p50: s.p50 / perCall,
    p99: s.p99 / perCall,
    unit,
    bytesPerUnit: s.heap ? s.heap.avg / perCall : NaN,
    samples: s.ticks,
  };
}
