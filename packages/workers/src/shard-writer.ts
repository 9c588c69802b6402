/**
 * The shard writer thread's script: one per shard, started by openLog. It builds the ShardWriter
 * (shard-writer-loop.ts) from its workerData and exposes its control plane (comlink) to the log.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Comlink, nodeEndpoint, type ShardWriterData } from './rpc.js';
import { ShardWriter } from './shard-writer-loop.js';
import { throwAtStart } from './writer-faults.js';
import { signalStart, signalStartFailure } from './writer-start.js';

const data = workerData as ShardWriterData;
try {
  throwAtStart(data.testFaults);
} catch (e) {
  signalStartFailure(data.startWords, data.startPort, data.shard, e); // a log waiting synchronously learns it too
  throw e;
}
const writer = new ShardWriter(data, parentPort);

// A writer that ends without a clean close (an exception, process.exit in this thread, terminate)
// must not leave producers waiting: mark the shard failed on the way out.
process.on('exit', () => writer.onExit());

Comlink.expose(writer.api(), nodeEndpoint(parentPort));
// Start at once: recover, then signal the result through the start word and port (writer-start.ts).
void writer.api().started().then((r) => signalStart(data.startWords, data.startPort, data.shard, r));
