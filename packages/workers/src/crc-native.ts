/**
 * CRC-32C through the CPU's CRC instruction: @node-rs/crc32's prebuilt native binding, loaded once.
 * When the binding cannot load (no prebuilt binary for this platform), or SHARDLOG_CRC=js is set in
 * the environment, the same function runs on the table-driven JavaScript CRC (crc32c.ts). Frames
 * (segment format 2) are checksummed here: one call over up to a batch of bytes, where the native
 * call's fixed cost no longer matters (docs/DESIGN-NOTES.md).
 */
import { createRequire } from 'node:module';
import { crc32cUpdate } from './crc32c.js';

type NativeCrc = (data: Uint8Array, initial?: number) => number;

function loadNative(): NativeCrc | undefined {
  if (process.env.SHARDLOG_CRC === 'js') return undefined;
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: NativeCrc };
    return typeof mod.crc32c === 'function' ? mod.crc32c : undefined;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** 'native' when the CPU instruction is used, 'js' on the fallback. */
export const crc32cImplementation: 'native' | 'js' = native ? 'native' : 'js';

/**
 * Continue a CRC-32C (unsigned, 0 to start) over u8[start, end). Native below a few hundred bytes
 * costs more than the JS tables (the call and the view), so short ranges stay in JS.
 */
export function crc32cRange(crc: number, u8: Uint8Array, start: number, end: number): number {
  if (native === undefined || end - start < 256) return crc32cUpdate(crc, u8, start, end);
  return native(start === 0 && end === u8.length ? u8 : u8.subarray(start, end), crc) >>> 0;
}
