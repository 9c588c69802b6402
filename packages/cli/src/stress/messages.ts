/**
 * What the load side (producers, the session that runs them, a forked writer child) tells the
 * runner. The same messages travel by a direct call (in-process runs), by postMessage (producer
 * threads) and over the child's IPC channel (kill mode), so they are plain, cloneable objects.
 */

/** An error as the runner reports it. */
export interface ErrorInfo {
  name: string;
  code?: string;
  message: string;
  /** The system error code under it (ENOSPC, EIO, WORKER_EXIT), where one is known. */
  causeCode?: string;
}

/** A producer's acknowledged prefix: `count` entries (indexes 0..count-1) are durable. */
export interface AckPoint {
  count: number;
  /** Running CRC-32C over the payloads of those entries, in order. */
  hash: number;
  /** Sequence number append() returned for entry count-1 (0 if none). */
  lastSeq: number;
}

export type LoadMessage =
  | { type: 'ready'; pid: number; maxEntryBytes: number; recovery: RecoverySummary[] }
  | { type: 'ack'; producer: number; ack: AckPoint; appended: number }
  | { type: 'hist'; producer: number; hist: string }
  | { type: 'stats'; t: number; stats: StatsSample }
  /** Something the person watching should know (printed as its own line). */
  | { type: 'note'; text: string }
  | {
      type: 'done';
      producer: number;
      appended: number;
      /** Entries that may have reached the log: `appended`, plus those of an appendMany that threw midway. */
      appendedMax: number;
      ack: AckPoint;
      appendError?: ErrorInfo;
      durableError?: ErrorInfo;
      /** After an append failed: what one more durable() did (it must reject, not hang). */
      probe?: 'rejected' | 'resolved' | 'hung';
      probeError?: ErrorInfo;
      /** durable() calls still unsettled when the producer gave up waiting (a hang). */
      hung: number;
    }
  | { type: 'session-end'; elapsedMs: number; failure?: ErrorInfo; closeError?: ErrorInfo; stats: StatsSample; workerErrors: string[] };

export interface StatsSample {
  state: string;
  entries: number;
  payloadBytes: number;
  fileBytes: number;
  fsyncs: number;
  batches: number;
  durableLagBytes: number;
  pendingBytes: number;
  ringFullWaits: number;
  segments: number;
}

export interface RecoverySummary {
  shard: number;
  segments: number;
  records: number;
  bytesCut: number;
  cutReason?: string;
  cutFile?: string;
  cutOffset?: number;
  removedFiles: number;
}

export function errorInfo(e: unknown): ErrorInfo {
  const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
  const info: ErrorInfo = { name: String(err?.name ?? 'Error'), message: String(err?.message ?? e) };
  if (typeof err?.code === 'string') info.code = err.code;
  const causeCode = typeof err?.cause?.code === 'string' ? err.cause.code : /\b(E[A-Z]{2,}|WORKER_EXIT)\b/.exec(info.message)?.[1];
  if (causeCode && causeCode !== info.code) info.causeCode = causeCode;
  return info;
}
