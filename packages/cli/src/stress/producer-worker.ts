/**
 * A producer thread of the stress runner: attaches to the log through the handle the session sent,
 * runs the load loop, and posts its messages (ack points, latency histogram, done) to the session.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachProducer, type ProducerHandle } from '@shardlog/core';
import { runProducer, type LoadConfig } from './load.js';

interface ProducerWorkerData {
  handle: ProducerHandle;
  id: number;
  cfg: LoadConfig;
  stop: SharedArrayBuffer;
}

const data = workerData as ProducerWorkerData;
const port = parentPort!;
const producer = attachProducer(data.handle);
await runProducer(producer, data.id, data.cfg, new Int32Array(data.stop), (m) => port.postMessage(m));
