/**
 * @shardlog/ship: ship every durable entry of a shardlog log to NATS JetStream exactly once, in
 * order per shard, and read it back.
 *
 *   const shipper = shipLog({ log, servers: 'nats://127.0.0.1:4222', stream: 'INGEST' });
 *   shipper.stats(); // entries/s, shipped seq per shard, lag, what it waits for
 *   await shipper.stop();
 *   for await (const e of readJetStream({ servers, stream: 'INGEST' })) e.seq, e.text();
 */
export { shipLog, Shipper, type ShipOptions, type ShipStats, type ShardShipStats, type ShipState } from './shipper.js';
export { readJetStream, StreamEntry, type ReadJetStreamOptions } from './read.js';
export { verifyShipped, type VerifyShippedOptions, type VerifyShippedReport, type ShipDifference } from './verify.js';
export { registerShipMetrics, type ShipMetricsOptions } from './metrics.js';
export { ShipError, type ShipErrorCode } from './errors.js';
export type { NatsOptions } from './nats.js';
export { encodeBatch, decodeBatch, msgId, parseMsgId, BATCH_VERSION, type ShipEntry } from './batch.js';
export { runShipCommand, shipCommand, SHIP_HELP } from './command.js';
