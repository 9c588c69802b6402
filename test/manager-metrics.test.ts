/**
 * registerManagerMetrics: every open log's per-shard series with a `log` label, and the manager's
 * own counters (logs opened, reused, evicted; totals over closed logs too), read at scrape time.
 */
import { openLogManager, registerManagerMetrics } from '@shardlog/core';
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { tmpDir } from './helpers.js';

function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

describe('registerManagerMetrics', () => {
  it('labels each log, and counts the manager', async () => {
    const m = await openLogManager({ root: tmpDir(), writers: 2, maxOpenLogs: 2 });
    const registry = new client.Registry();
    const { names, unregister } = registerManagerMetrics(m, registry);
    expect(names).toContain('shardlog_manager_open_logs');
    const a = await m.log('a');
    const b = await m.log('b', { shards: 2 });
    for (let i = 0; i < 6; i++) {
      a.append(`a${i}`);
      b.append(`b${i}`);
    }
    await Promise.all([a.durable(), b.durable()]);
    await m.log('a');
    let s = samples(await registry.metrics());
    expect(s.get('shardlog_entries_total{log="a",shard="0"}')).toBe(6);
    expect(s.get('shardlog_entries_total{log="b",shard="0"}')! + s.get('shardlog_entries_total{log="b",shard="1"}')!).toBe(6);
    expect(s.get('shardlog_next_seq{log="b"}')).toBe(7);
    expect(s.get('shardlog_manager_open_logs')).toBe(2);
    expect(s.get('shardlog_manager_logs_opened_total')).toBe(2);
    expect(s.get('shardlog_manager_logs_reused_total')).toBe(1);
    expect(s.get('shardlog_manager_threads')).toBe(2);
    expect(s.get('shardlog_manager_hosted_writers')).toBe(3);
    expect(s.get('shardlog_manager_fsyncs_total')).toBeGreaterThan(0);

    await m.log('c'); // closes b, the least recently used
    s = samples(await registry.metrics());
    expect(s.has('shardlog_entries_total{log="b",shard="0"}')).toBe(false);
    expect(s.get('shardlog_entries_total{log="c",shard="0"}')).toBe(0);
    expect(s.get('shardlog_manager_logs_evicted_total')).toBe(1);
    expect(s.get('shardlog_manager_entries_total')).toBe(12); // b's entries still counted
    unregister();
    expect((await registry.metrics()).trim()).toBe('');
    await m.close();
  });
});
