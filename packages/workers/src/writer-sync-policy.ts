/**
 * When the shard writer syncs: its policy ('batch', 'bytes', 'ms', 'none'), durable() waiters'
 * requests (I_SYNC_REQ), durableSync()'s forced ones (I_SYNC_FORCE, whatever the policy), and
 * flush-behind (a background fdatasync past FLUSH_BEHIND_BYTES unsynced, whatever the policy, so
 * the kernel does not throttle writes: docs/DESIGN-NOTES.md 11).
 */
import { I_SYNC_FORCE, I_SYNC_REQ } from './ring-protocol.js';
import type { SyncPolicy } from './rpc.js';

/** Whatever the policy, unsynced bytes past this are flushed in the background. */
export const FLUSH_BEHIND_BYTES = 16 << 20;

/**
 * A due sync covering at most this many unsynced bytes runs inline in the writer thread, even with
 * more waiting in the ring: durable is published without a hop through libuv's pool and back, and
 * at such a load what arrives meanwhile waits for the next sync either way (one in flight at a
 * time). More than this, with more waiting, is synced in the background while the next batch is
 * written (pipelined group commit: the throughput path). docs/DESIGN-NOTES.md 15.
 */
export const INLINE_SYNC_BYTES = 256 << 10;

/** At a roll, a remainder up to this size is synced inline; more is flushed in the background first. */
export const ROLL_INLINE_BYTES = 1 << 20;

export const SYNC_NO = 0;
export const SYNC_DUE = 1;
/** Not due, but flush behind (a background sync; what it covers becomes durable). */
export const SYNC_FLUSH_BEHIND = 2;

export class SyncClock {
  /** When the last sync completed (ms). */
  syncedAt = Date.now();
  /** The I_SYNC_REQ value last honoured. */
  seenReq = 0;
  /** The I_SYNC_FORCE value last honoured. */
  seenForce = 0;

  constructor(
    readonly policy: SyncPolicy,
    private readonly i32: Int32Array,
  ) {}

  /** Is a sync due now (SYNC_*), with `unsynced` bytes written since the last one? Marks requests seen. */
  check(force: boolean, unsynced: number): number {
    const req = Atomics.load(this.i32, I_SYNC_REQ);
    const forced = Atomics.load(this.i32, I_SYNC_FORCE);
    let due = force || forced !== this.seenForce;
    switch (this.policy.kind) {
      case 'batch':
        due = true;
        break;
      case 'bytes':
        due ||= unsynced >= this.policy.value || req !== this.seenReq;
        break;
      case 'ms':
        due ||= Date.now() - this.syncedAt >= this.policy.value;
        break;
      case 'none':
        due ||= req !== this.seenReq;
        break;
    }
    if (!due && unsynced < FLUSH_BEHIND_BYTES) return SYNC_NO;
    this.seenReq = req;
    this.seenForce = forced;
    return due ? SYNC_DUE : SYNC_FLUSH_BEHIND;
  }

  /**
   * A durable() waiter asked for a sync the policy would not give yet (the ms policy ignores those),
   * or durableSync() forced one (every policy honours that).
   */
  requested(): boolean {
    if (Atomics.load(this.i32, I_SYNC_FORCE) !== this.seenForce) return true;
    return Atomics.load(this.i32, I_SYNC_REQ) !== this.seenReq && this.policy.kind !== 'ms';
  }

  /** ms until the ms policy's timer is due (Infinity for the other policies). */
  msUntilDue(): number {
    return this.policy.kind === 'ms' ? Math.max(0, this.policy.value - (Date.now() - this.syncedAt)) : Infinity;
  }
}
