import { openLog } from '@shardlog/core';
import * as os from 'node:os'; import * as path from 'node:path'; import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtt-'));
for (const sync of ['batch', 'none']) {
const log = await openLog({ dir: path.join(dir, sync), shards: 1, sync });
const lat = [];
for (let i = 0; i < 2000; i++) { const t = performance.now(); const s = log.append('x'.repeat(100)); await log.durable(s); lat.push(performance.now() - t); }
lat.sort((a,b)=>a-b); console.log(sync, 'closed-loop durable RTT ms p50', lat[1000].toFixed(3), 'p99', lat[1980].toFixed(3), 'fsyncs', log.stats().fsyncs);
await log.close();
}
// raw fdatasync cost
const fd = fs.openSync(path.join(dir, 'raw'), 'w'); const b = Buffer.alloc(120); const l2 = [];
for (let i = 0; i < 2000; i++) { const t = performance.now(); fs.writeSync(fd, b); fs.fdatasyncSync(fd); l2.push(performance.now() - t); }
l2.sort((a,b)=>a-b); console.log('raw write+fdatasync ms p50', l2[1000].toFixed(3), 'p99', l2[1980].toFixed(3));
fs.rmSync(dir, {recursive: true});
