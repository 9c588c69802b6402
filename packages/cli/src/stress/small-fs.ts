/**
 * --full-disk: a small filesystem of the runner's own, so the disk can be filled without touching
 * anyone else's. First a tmpfs (`mount -t tmpfs -o size=N`), then, if that is refused, an ext4 image
 * on a loop device (`mkfs.ext4` + `mount -o loop`). Both need root (CAP_SYS_ADMIN); without it, or
 * where mounting is not allowed (many containers), the mode is skipped with the reasons.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SmallFs {
  dir: string;
  kind: 'tmpfs' | 'loop';
  bytes: number;
  release(): void;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function why(e: unknown): string {
  const err = e as Error & { stderr?: Buffer };
  const text = err.stderr?.toString().trim() || err.message;
  return text.split('\n')[0];
}

export function mountSmallFs(bytes: number): SmallFs | { skipped: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { skipped: 'full-disk mode needs root to mount a small filesystem of its own (tmpfs or a loop device); run as root, or skip it' };
  }
  const reasons: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardlog-stress-disk-'));
  const unmount = () => {
    try {
      run('umount', [dir]);
    } catch {
      try {
        run('umount', ['-l', dir]);
      } catch {
        /* left mounted: nothing more to do */
      }
    }
  };
  try {
    run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
    return {
      dir,
      kind: 'tmpfs',
      bytes,
      release() {
        unmount();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    reasons.push(`tmpfs: ${why(e)}`);
  }
  const image = `${dir}.img`;
  try {
    fs.writeFileSync(image, '');
    fs.truncateSync(image, bytes);
    run('mkfs.ext4', ['-q', '-F', image]);
    run('mount', ['-o', 'loop', image, dir]);
    return {
      dir,
      kind: 'loop',
      bytes,
      release() {
        unmount();
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(image, { force: true });
      },
    };
  } catch (e) {
    reasons.push(`loop device: ${why(e)}`);
  }
  fs.rmSync(image, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  return { skipped: `could not mount a small filesystem (${reasons.join('; ')})` };
}

/** Fill `dir`'s filesystem with a real (not sparse) file until only `leave` bytes are free. Returns its size. */
export function fillDisk(file: string, leave: number): number {
  const st = fs.statfsSync(path.dirname(file));
  const free = st.bavail * st.bsize;
  let want = Math.max(0, free - leave);
  const chunk = Buffer.alloc(1 << 20, 0xa5);
  const fd = fs.openSync(file, 'w');
  let written = 0;
  try {
    while (want > 0) {
      const n = fs.writeSync(fd, chunk, 0, Math.min(chunk.length, want));
      written += n;
      want -= n;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return written;
}
