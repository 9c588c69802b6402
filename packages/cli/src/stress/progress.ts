/**
 * Live progress of a stress run, from log.stats() samples: entries/s, MB/s, acknowledged entries,
 * durable lag (bytes written but not yet fdatasynced) and ring-full waits. On a terminal the line is
 * rewritten in place a few times a second; otherwise (a pipe, CI) one plain line per second.
 * It writes to stderr, so `--json > report.json` still shows progress.
 */
import type { StatsSample } from './messages.js';

export function fmtCount(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + ' k';
  return String(Math.round(n));
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
  return `${n} B`;
}

export class Progress {
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly tty: boolean;
  private window: { t: number; entries: number; bytes: number }[] = [];
  private lastPrint = -Infinity;
  private lineOpen = false;
  private phaseStart = 0;
  private label = '';

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean }, tty = Boolean(out.isTTY)) {
    this.out = out;
    this.tty = tty;
  }

  /** A new session: rates restart from zero. */
  startPhase(label: string): void {
    this.window = [];
    this.lastPrint = -Infinity;
    this.phaseStart = 0;
    this.label = label;
  }

  sample(t: number, s: StatsSample, acked: number): void {
    this.window.push({ t, entries: s.entries, bytes: s.payloadBytes });
    while (this.window.length > 2 && t - this.window[0].t > 1000) this.window.shift();
    if (!this.tty && t - this.lastPrint < 1000) return;
    this.lastPrint = t;
    const first = this.window[0];
    const dt = (t - (this.window.length > 1 ? first.t : this.phaseStart)) / 1000;
    const de = s.entries - (this.window.length > 1 ? first.entries : 0);
    const db = s.payloadBytes - (this.window.length > 1 ? first.bytes : 0);
    const line =
      `${this.label ? this.label + ' ' : ''}${(t / 1000).toFixed(1).padStart(6)}s  ` +
      `${fmtCount(dt > 0 ? de / dt : 0).padStart(8)} entries/s  ${(dt > 0 ? db / 1e6 / dt : 0).toFixed(1).padStart(7)} MB/s  ` +
      `acked ${fmtCount(acked)}  durable lag ${fmtBytes(s.durableLagBytes)}  ring-full waits ${fmtCount(s.ringFullWaits)}  ${s.state}`;
    if (this.tty) {
      this.out.write(`\r\x1b[2K${line}`);
      this.lineOpen = true;
    } else this.out.write(line + '\n');
  }

  /** A line of its own (an event: kill, tear, recovery). */
  note(text: string): void {
    this.closeLine();
    this.out.write(text + '\n');
  }

  closeLine(): void {
    if (this.lineOpen) {
      this.out.write('\n');
      this.lineOpen = false;
    }
  }
}
