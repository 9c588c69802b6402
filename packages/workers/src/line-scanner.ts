/**
 * Lines-format segments (no header, no CRCs: payloads each ending with a newline): count the lines
 * and find the last newline, reading in bounded chunks whatever the file's size. Recovery cuts
 * after the last newline; stats reports the last line's seq.
 */
import * as fs from 'node:fs';

const MAX_CHUNK = 4 << 20;

/** What a scan of a lines-format segment found. */
export interface LineSegmentScan {
  /** False if the file is gone (retention removed it). */
  exists: boolean;
  size: number;
  /** Newline-terminated lines. */
  lines: number;
  /** Offset just past the last newline: what is after it is an unfinished line. */
  end: number;
}

/** Count a lines-format segment's lines and find its last newline, reading in bounded chunks. */
export function scanLineSegment(file: string, chunkBytes = 1 << 20): LineSegmentScan {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, size: 0, lines: 0, end: 0 };
    throw e;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(Math.min(MAX_CHUNK, Math.max(1, chunkBytes)));
    let lines = 0;
    let end = 0;
    for (let at = 0; at < size; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
      if (n === 0) break;
      for (let i = buf.indexOf(10); i >= 0 && i < n; i = buf.indexOf(10, i + 1)) {
        lines++;
        end = at + i + 1;
      }
      at += n;
    }
    return { exists: true, size, lines, end };
  } finally {
    fs.closeSync(fd);
  }
}
