/**
 * The chart: a hand-written SVG (no browser, no dependency) with three panels:
 *   1. end-to-end throughput, MB/s of file bytes, every run (a dashed line marks dd's rate),
 *   2. main-thread CPU per entry, log scale,
 *   3. durable-ack latency per offered load: p99 bars with the p50 marked, log scale.
 */
import type { Report } from './report.js';
import type { E2ERow } from './stats.js';

const W = 960;
const LABEL_W = 330;
const PLOT_X = LABEL_W + 10;
const PLOT_W = W - PLOT_X - 90;
const BAR_H = 16;
const GAP = 5;

const COLORS = {
  none: '#1f6feb',
  batch: '#0b3d91',
  disk: '#8c959f',
  peer: '#e36209',
  sonic: '#e36209',
  shardlog: '#1f6feb',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function colorOf(x: E2ERow): string {
  if (x.system === 'dd' || x.system === 'fdatasync-loop') return COLORS.disk;
  if (x.system !== 'shardlog') return COLORS.peer;
  return x.id.includes('-batch-') ? COLORS.batch : COLORS.none;
}

function fmt(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return '–';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? digits : Math.max(digits, 1));
}

function text(x: number, y: number, s: string, opts: { anchor?: 'start' | 'end' | 'middle'; size?: number; weight?: string; fill?: string } = {}): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${opts.size ?? 12}" text-anchor="${opts.anchor ?? 'start'}"${opts.weight ? ` font-weight="${opts.weight}"` : ''} fill="${opts.fill ?? '#24292f'}">${esc(s)}</text>`;
}

/** The value label of a bar: after its end, or inside it (white) when it would leave the chart. */
function barLabel(end: number, y: number, label: string): string {
  const room = W - end - 8;
  if (room >= label.length * 5.6) return text(end + 4, y + BAR_H - 4, label, { size: 10, fill: '#57606a' });
  return text(end - 4, y + BAR_H - 4, label, { anchor: 'end', size: 10, fill: '#ffffff' });
}

/** Log-scale position of v in [lo, hi] over the plot width. */
function logX(v: number, lo: number, hi: number): number {
  const c = Math.min(Math.max(v, lo), hi);
  return PLOT_X + ((Math.log10(c) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PLOT_W;
}

function decadeBounds(values: number[]): [number, number] {
  const v = values.filter((x) => Number.isFinite(x) && x > 0);
  if (!v.length) return [1, 10];
  return [10 ** Math.floor(Math.log10(Math.min(...v))), 10 ** Math.ceil(Math.log10(Math.max(...v)))];
}

function logAxis(y: number, h: number, lo: number, hi: number, unit: string): string[] {
  const out: string[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const x = logX(d, lo, hi);
    out.push(`<line x1="${x.toFixed(1)}" y1="${y}" x2="${x.toFixed(1)}" y2="${y + h}" stroke="#d0d7de" stroke-width="1"/>`);
    out.push(text(x, y + h + 13, `${d >= 1 ? d.toLocaleString('en-US') : d} ${unit}`, { anchor: 'middle', size: 10, fill: '#57606a' }));
  }
  return out;
}

export function chart(r: Report): string {
  const parts: string[] = [];
  let y = 28;
  parts.push(text(W / 2, y, `shardlog bench (${r.settings.mode}): ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.filesystem.split(' (')[0]}`, { anchor: 'middle', size: 14, weight: 'bold' }));
  y += 18;
  parts.push(text(W / 2, y, `N = ${r.settings.n.toLocaleString('en-US')} entries of 100 B per run, medians of ${r.settings.reps}; clock stops when every byte is fdatasynced`, { anchor: 'middle', size: 11, fill: '#57606a' }));
  y += 14;

  // ---- panel 1: MB/s ----
  const rows = r.e2e.filter((x) => x.runs > 0);
  if (rows.length) {
    y += 24;
    parts.push(text(16, y, 'End-to-end throughput, MB/s of file bytes (higher is better)', { size: 13, weight: 'bold' }));
    y += 12;
    const top = y;
    const maxMb = Math.max(...rows.map((x) => (Number.isFinite(x.mbPerSec) ? x.mbPerSec : 0)), 1);
    const scale = PLOT_W / maxMb;
    for (const x of rows) {
      const w = Math.max(1, (Number.isFinite(x.mbPerSec) ? x.mbPerSec : 0) * scale);
      parts.push(text(LABEL_W, y + BAR_H - 4, x.label, { anchor: 'end', size: 11 }));
      parts.push(`<rect x="${PLOT_X}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${colorOf(x)}" rx="2"/>`);
      const extra = Number.isFinite(x.entriesPerSec) ? `  (${(x.entriesPerSec / 1e6).toFixed(2)} M entries/s)` : '';
      parts.push(barLabel(PLOT_X + w, y, `${fmt(x.mbPerSec)}${extra}`));
      y += BAR_H + GAP;
    }
    const dd = rows.find((x) => x.system === 'dd');
    if (dd && Number.isFinite(dd.mbPerSec)) {
      const x = PLOT_X + dd.mbPerSec * scale;
      parts.push(`<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${y}" stroke="#57606a" stroke-dasharray="4 3"/>`);
      parts.push(text(x - 4, top + 8, 'dd', { anchor: 'end', size: 10, fill: '#57606a' }));
    }
    // legend
    y += 10;
    let lx = 16;
    for (const [c, name] of [
      [COLORS.none, "shardlog sync 'none'"],
      [COLORS.batch, "shardlog sync 'batch'"],
      [COLORS.peer, 'peers'],
      [COLORS.disk, "the disk's own limit"],
    ] as const) {
      parts.push(`<rect x="${lx}" y="${y - 9}" width="10" height="10" fill="${c}"/>`);
      parts.push(text(lx + 14, y, name, { size: 11 }));
      lx += 200;
    }
  }

  // ---- panel 2: CPU ns per entry ----
  const cpuRows = rows.filter((x) => Number.isFinite(x.cpuNsPerEntry) && x.cpuNsPerEntry > 0);
  if (cpuRows.length) {
    y += 34;
    parts.push(text(16, y, 'Main-thread CPU per entry, ns (log scale, lower is better)', { size: 13, weight: 'bold' }));
    y += 12;
    const [lo, hi] = decadeBounds(cpuRows.map((x) => x.cpuNsPerEntry));
    const top = y;
    const h = cpuRows.length * (BAR_H + GAP);
    parts.push(...logAxis(top, h, lo, hi, 'ns'));
    for (const x of cpuRows) {
      const w = Math.max(1, logX(x.cpuNsPerEntry, lo, hi) - PLOT_X);
      parts.push(text(LABEL_W, y + BAR_H - 4, x.label, { anchor: 'end', size: 11 }));
      parts.push(`<rect x="${PLOT_X}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${colorOf(x)}" rx="2"/>`);
      parts.push(barLabel(PLOT_X + w, y, `${fmt(x.cpuNsPerEntry)} ns`));
      y += BAR_H + GAP;
    }
    y += 16;
  }

  // ---- panel 3: durable-ack latency ----
  const d = r.durable.filter((x) => x.runs > 0);
  if (d.length) {
    y += 30;
    parts.push(text(16, y, 'Durable-ack latency at a steady offered load: p99 bars, p50 marked (ms, log scale, lower is better)', { size: 13, weight: 'bold' }));
    y += 12;
    const [lo, hi] = decadeBounds(d.flatMap((x) => [x.p50Us / 1000, x.p99Us / 1000]));
    const h = d.length * (BAR_H + GAP);
    parts.push(...logAxis(y, h, lo, hi, 'ms'));
    for (const x of d) {
      const w = Math.max(1, logX(x.p99Us / 1000, lo, hi) - PLOT_X);
      const p50 = logX(x.p50Us / 1000, lo, hi);
      parts.push(text(LABEL_W, y + BAR_H - 4, `${x.label} @ ${(x.offeredPerSec / 1000).toLocaleString('en-US')}k/s`, { anchor: 'end', size: 11 }));
      parts.push(`<rect x="${PLOT_X}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${x.system === 'sonic-boom' ? COLORS.sonic : x.system === 'shardlog-sync' ? COLORS.batch : COLORS.shardlog}" rx="2"/>`);
      parts.push(`<line x1="${p50.toFixed(1)}" y1="${y - 2}" x2="${p50.toFixed(1)}" y2="${y + BAR_H + 2}" stroke="#24292f" stroke-width="2"/>`);
      parts.push(barLabel(PLOT_X + w, y, `p99 ${fmt(x.p99Us / 1000, 2)} · p50 ${fmt(x.p50Us / 1000, 2)}`));
      y += BAR_H + GAP;
    }
    y += 16;
  }

  const H = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
