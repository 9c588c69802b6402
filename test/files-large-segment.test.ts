/**
 * A segment past 2 GiB (larger than one Buffer can be read into): recovery, readers and verify scan
 * it in bounded chunks. The segment is really valid (recovery scans it record by record): 1 MiB
 * records of one pattern, each with its own seq and CRC, written in large blocks.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { openLog, readLogSync, verifyLog } from '@shardlog/core';
import { crc32cUpdate, HEADER_BYTES, maskCrc, TYPE_BYTES, TYPE_SHIFT } from '@shardlog/workers';
import { logDir, segmentFiles } from './helpers.js';

// Builds version-1 segments (records with their own CRC, which readers and recovery still handle) and
// cuts them record by record.
process.env.SHARDLOG_TEST_SEGMENT_VERSION = '1';

const RECORD = 1 << 20; // bytes of each record (header included; a multiple of 8, so no padding)
const COUNT = 2112; // 2112 MiB of records (33 blocks): past 2 GiB
const BLOCK = 64; // records per write
const NEED = (COUNT + 512) * RECORD; // the segment, and room for everything else
const GIB = 2 ** 30;

const free = (() => {
  const st = fs.statfsSync(os.tmpdir());
  return st.bavail * st.bsize;
})();
const skipReason = free < NEED ? ` (SKIPPED: ${os.tmpdir()} has ${(free / GIB).toFixed(1)} GiB free, this test needs ${(NEED / GIB).toFixed(1)} GiB)` : '';

/** Append `COUNT` valid 1 MiB records with seqs from `firstSeq` to a segment file. */
function appendRecords(file: string, firstSeq: number): void {
  const block = Buffer.alloc(BLOCK * RECORD);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff; // a payload pattern
  const fd = fs.openSync(file, 'a');
  try {
    for (let done = 0; done < COUNT; done += BLOCK) {
      for (let k = 0; k < BLOCK; k++) {
        const o = k * RECORD;
        const seq = firstSeq + done + k;
        block.writeInt32LE(RECORD, o);
        block.writeUInt32LE(seq >>> 0, o + 8);
        block.writeUInt32LE(((TYPE_BYTES << TYPE_SHIFT) | Math.floor(seq / 2 ** 32)) >>> 0, o + 12);
        block.writeUInt32LE(maskCrc(crc32cUpdate(crc32cUpdate(0, block, o, o + 4), block, o + 8, o + RECORD)), o + 4);
      }
      fs.writeSync(fd, block);
    }
  } finally {
    fs.closeSync(fd);
  }
}

describe('a segment past 2 GiB', () => {
  it.skipIf(free < NEED)(`reopens after a clean close, reads back and verifies, scanned in bounded chunks${skipReason}`, async () => {
    const dir = logDir();
    const log = await openLog({ dir, shards: 1, segmentBytes: 2 ** 33 });
    log.append('first');
    await log.close();
    const [file] = segmentFiles(dir);
    appendRecords(file, 2);
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(2 ** 31);
    try {
      const again = await openLog({ dir, segmentBytes: 2 ** 33 });
      expect(again.recovery[0]).toMatchObject({ segmentsScanned: 1, records: COUNT + 1, lastSeq: COUNT + 1, bytesCut: 0, removedFiles: [] });
      expect(again.recovery[0].tail).toMatchObject({ file, size });
      expect(again.append('last')).toBe(COUNT + 2);
      await again.close();
      expect(fs.statSync(file).size).toBe(size + 24); // appended where the records end

      let n = 0;
      let prev = 0;
      for (const e of readLogSync({ dir })) {
        expect(e.seq).toBe(prev + 1);
        if (e.seq > 1 && e.seq <= COUNT + 1) expect(e.data.length).toBe(RECORD - HEADER_BYTES);
        prev = e.seq;
        n++;
      }
      expect(n).toBe(COUNT + 2);

      const v = await verifyLog({ dir, threads: 0 });
      expect(v).toMatchObject({ ok: true, errors: [], torn: [], segments: 1, records: COUNT + 2, lastSeq: COUNT + 2, bytes: size + 24 });
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
