/** The shape of a stress run's report (StressReport), which --json prints as is and report.ts formats. */
import type { Collector } from './collector.js';
import type { ErrorInfo, RecoverySummary } from './messages.js';
import type { TearReport } from './tear.js';
import type { VerifyResult } from './verify.js';

export type StressMode = 'clean' | 'kill' | 'full-disk' | 'writer-exit';

export interface KillCycle {
  cycle: number;
  /** ms after the child's load started. */
  killAfterMs: number;
  killed: boolean;
  /** Entries the child had reported acknowledged when it was killed (this cycle's producers). */
  acknowledgedAtKill: number;
  tear?: TearReport;
  /** What recovery did on reopen. */
  recovery?: RecoverySummary[];
  /** openLog refused the log (expected only after --tear synced). */
  openError?: ErrorInfo;
}

export interface StressReport {
  ok: boolean;
  mode: StressMode;
  /** Set when the mode could not run here (full-disk without mount rights); ok stays true. */
  skipped?: string;
  seed: number;
  /** A command line that replays this run's entries and fault choices (timing differs). */
  replay: string;
  config: {
    shards: number;
    producers: number;
    size: string;
    kind: string;
    sync: string;
    rate: number | 'unbounded';
    api: string;
    durationMs?: number;
    entries?: number;
    ringBytes?: number;
    segmentBytes?: number;
    maxEntryBytes: number;
  };
  dir: string;
  kept: boolean;
  throughput: ReturnType<Collector['throughput']>;
  /** Durable-ack latency: from the durable() call right after a burst of appends to its resolution. */
  latency: ReturnType<Collector['latency']>;
  verification?: VerifyResult;
  faults?: {
    kill?: KillCycle[];
    fullDisk?: { filesystem: 'tmpfs' | 'loop'; bytes: number; fillerBytes: number };
    writerExitAfterBatches?: number;
    /** The failure the log reported, and how the producers saw it. */
    failure?: ErrorInfo;
    appendErrors?: number;
    durableProbesRejected?: number;
    closeError?: ErrorInfo;
    /** What recovery did when the log was reopened after the failure. */
    recovery?: RecoverySummary[];
    /** Entries appended after the reopen, to show the log works again. */
    afterRecovery?: { entries: number };
  };
  /** Things worth knowing that are not failures (the load stopped early for lack of disk space). */
  notes: string[];
  /** Why ok is false, in words (empty when ok). */
  failures: string[];
}
