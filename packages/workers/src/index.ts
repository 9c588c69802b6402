/**
 * @shardlog/workers: the writer side of shardlog and the formats both sides share.
 * Most users import @shardlog/core instead, which re-exports what they need.
 */
export * from './errors.js';
export * from './record-layout.js';
export * from './ring-protocol.js';
export { devZeroOpen, RingZeroer, ZERO_READ_MIN_BYTES } from './ring-zero.js';
export * from './crc32c.js';
export * from './crc-native.js';
export * from './frame.js';
export * from './segment.js';
export { MANIFEST_FILE, MANIFEST_VERSION, MAX_SHARDS, newManifest, readManifest, writeManifest, writeFileDurable, mkdirDurable, type Manifest } from './manifest.js';
export * from './segment-header.js';
export * from './segment-scanner.js';
export * from './line-scanner.js';
export * from './recovery.js';
export type { ShardWriterApi, ShardWriterData, StartResult, SyncPolicy, TestFaults, WriterHostApi } from './rpc.js';
export { Comlink, nodeEndpoint, type Remote } from './rpc.js';

/** Path of the shard writer's worker script. */
export const SHARD_WRITER_URL = new URL('./shard-writer.js', import.meta.url);
/** Path of the writer host's worker script (a log manager's pool thread: many writers). */
export const WRITER_HOST_URL = new URL('./writer-host.js', import.meta.url);
export * from './verify-segment.js';
export * from './writer-start.js';
export * from './verify-pool.js';
export * from './worker-argv.js';
export { CURRENT_LINK } from './writer-files.js';
export * from './encryption-keys.js';
export * from './frame-crypto.js';
export { readSyncTrace, type SyncTraceRows } from './writer-trace.js';
