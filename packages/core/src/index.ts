/**
 * @shardlog/core: durable, sharded log / write-ahead-log appends for Node.js.
 *
 *   const log = await openLog({ dir: 'data/wal', shards: 4, sync: 'batch' });
 *   const seq = log.append('INSERT row 1');
 *   await log.durable(seq);
 *   await log.close();
 *   for await (const e of readLog({ dir: 'data/wal' })) e.seq, e.text();
 */
export { openLog, openLogSync, Log, type LogStats, type ShardStats } from './log.js';
export { openLogManager, LogManager, type LogManagerOptions, type LogManagerStats, type ManagedLogOptions } from './log-manager.js';
export { MAX_LOG_NAME_BYTES } from './manager-names.js';
export { rebuildManifest } from './log-manifest.js';
export { Producer, attachProducer, type ProducerHandle, type Entry } from './producer.js';
export { readLog, readLogSync, readShard, Rec as LogRecord, readKeysOf, copyReadKeys, type LogEntry, type ReadOptions, type ReadKeys, type SkippedRegion } from './reader.js';
export type { OpenOptions, SyncOption } from './options.js';
export {
  ShardlogError,
  InvalidArgumentError,
  EntryTooLargeError,
  RingFullError,
  LogClosedError,
  TooManyLogsError,
  ShardFailedError,
  WriterStartError,
  LogLockedError,
  LogOpenError,
  CorruptLogError,
  LogFormatError,
  KeyError,
  type EncryptionOptions,
  type ShardRecovery,
} from '@shardlog/workers';
export { shardlogDestination, ShardlogDestination, type ShardlogDestinationOptions } from './integrations/pino-destination.js';
export { createLogWritable, type LogWritableOptions } from './integrations/writable.js';
export { registerMetrics, type MetricsOptions, type RegisteredMetrics, type PromRegistry, type PromClientModule } from './integrations/metrics.js';
export { registerManagerMetrics } from './integrations/manager-metrics.js';
export { verifyLog, type VerifyOptions, type VerifyReport, type VerifyError } from './verify.js';
export { ShardCursor, type FollowOptions } from './follow.js';
export type { RetentionResult, RemovedSegment } from './retention.js';
export type { SegmentCheck, VerifyIssue, Manifest } from '@shardlog/workers';
export { readHolds, writeHold, removeHold, holdFile, heldSeqs, HOLDS_DIR, type Hold } from './holds.js';
export { readKeyFile, parseKeyFile, keysFromFileOrEnv, KEY_FILE_ENV } from './key-file.js';
/** @internal for the command-line tools of the shardlog packages */
export { inlineNegativeValues, MAX_TIMER_MS } from './command-args.js';
/** @internal for the CLI: shard directories missing from a log with entries */
export { missingShardDirs, missingShardError } from './log-dir.js';
export { rekeyLog, type RekeyOptions, type RekeyResult } from './rekey.js';
