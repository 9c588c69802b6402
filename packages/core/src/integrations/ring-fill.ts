/**
 * Backpressure for writers that append into a log: how full the fullest shard ring is, looked at
 * once every so many bytes appended (log.stats() is not free), and a wait until the writer threads
 * have drained it to half the limit (or the log failed). Used by the pino destination's write()
 * (false past the limit, then 'drain') as createLogWritable does with its callbacks.
 */
import type { Log } from '../log.js';

export class RingFill {
  private readonly ringBytes: number;
  private readonly checkEvery: number;
  private sinceCheck = 0;

  constructor(
    private readonly log: Log,
    private readonly maxFill: number,
  ) {
    // The ring's capacity, from the largest entry it takes (half the ring, less a record header).
    this.ringBytes = 2 ** Math.ceil(Math.log2(2 * (log.maxEntryBytes + 16)));
    this.checkEvery = Math.max(4096, Math.floor((this.ringBytes * maxFill) / 8));
  }

  /** Count `bytes` appended; true if a look now finds a ring past maxFill. */
  added(bytes: number): boolean {
    this.sinceCheck += bytes;
    if (this.sinceCheck < this.checkEvery) return false;
    this.sinceCheck = 0;
    return this.fill() > this.maxFill;
  }

  /** Call `done` once every ring is at most half maxFill full, or the log has failed. */
  whenLow(done: (failure?: Error) => void): void {
    const low = this.maxFill / 2;
    const poll = (): void => {
      const failure = this.log.failure;
      if (failure) done(failure);
      else if (this.fill() <= low) done();
      else setTimeout(poll, 1);
    };
    setTimeout(poll, 1);
  }

  private fill(): number {
    let most = 0;
    for (const s of this.log.stats().shards) if (s.pendingBytes > most) most = s.pendingBytes;
    return most / this.ringBytes;
  }
}
