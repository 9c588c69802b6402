/**
 * registerMetrics: log.stats() as Prometheus metrics through prom-client, per shard, read at
 * scrape time; constant labels and prefixes; unregister; a name clash leaves the registry as it was.
 */
import { openLog, registerMetrics } from '@shardlog/core';
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { logDir } from './helpers.js';

/** `name{labels} value` lines of a scrape, as a map. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

describe('registerMetrics', () => {
  it('exports the stats of every shard as counters and gauges, read at scrape time', async () => {
    const log = await openLog({ dir: logDir(), shards: 2 });
    const registry = new client.Registry();
    const { names } = registerMetrics(log, registry);
    expect(names).toContain('shardlog_entries_total');

    const before = samples(await registry.metrics());
    expect(before.get('shardlog_entries_total{shard="0"}')).toBe(0);
    expect(before.get('shardlog_state{state="running"}')).toBe(1);

    for (let i = 0; i < 10; i++) log.append(`entry ${i}`); // 5 per shard, round robin
    await log.durable();
    const text = await registry.metrics();
    expect(text).toContain('# TYPE shardlog_entries_total counter');
    expect(text).toContain('# TYPE shardlog_durable_lag_bytes gauge');
    const s = samples(text);
    const st = log.stats();
    for (const shard of [0, 1]) {
      const l = `{shard="${shard}"}`;
      expect(s.get(`shardlog_entries_total${l}`)).toBe(5);
      expect(s.get(`shardlog_payload_bytes_total${l}`)).toBe(st.shards[shard].payloadBytes);
      expect(s.get(`shardlog_file_bytes_total${l}`)).toBe(st.shards[shard].fileBytes);
      expect(s.get(`shardlog_batches_total${l}`)).toBe(st.shards[shard].batches);
      expect(s.get(`shardlog_writev_calls_total${l}`)).toBe(st.shards[shard].writevCalls);
      expect(s.get(`shardlog_fsyncs_total${l}`)).toBeGreaterThan(0);
      expect(s.get(`shardlog_ring_full_waits_total${l}`)).toBe(0);
      expect(s.get(`shardlog_segments_total${l}`)).toBe(1);
      expect(s.get(`shardlog_durable_lag_bytes${l}`)).toBe(0);
      expect(s.get(`shardlog_pending_bytes${l}`)).toBe(0);
    }
    expect(s.get('shardlog_next_seq')).toBe(11);
    expect(s.get('shardlog_last_seq{shard="1"}')).toBe(10);

    await log.close();
    const after = samples(await registry.metrics());
    expect(after.get('shardlog_state{state="closed"}')).toBe(1);
    expect(after.get('shardlog_state{state="running"}')).toBe(0);
  });

  it('takes a prefix and constant labels, so two logs share one registry; unregister removes them', async () => {
    const a = await openLog({ dir: logDir('a'), shards: 1 });
    const b = await openLog({ dir: logDir('b'), shards: 1 });
    const registry = new client.Registry();
    const ra = registerMetrics(a, registry, { labels: { log: 'a' } });
    registerMetrics(b, registry, { prefix: 'other_', labels: { log: 'b' }, promClient: client });
    a.append('x');
    await a.durable();
    const s = samples(await registry.metrics());
    expect(s.get('shardlog_entries_total{log="a",shard="0"}')).toBe(1);
    expect(s.get('other_entries_total{log="b",shard="0"}')).toBe(0);
    ra.unregister();
    const text = await registry.metrics();
    expect(text).not.toContain('shardlog_');
    expect(text).toContain('other_entries_total');
    await Promise.all([a.close(), b.close()]);
  });

  it('a name already registered throws and leaves the registry as it was', async () => {
    const log = await openLog({ dir: logDir(), shards: 1 });
    const registry = new client.Registry();
    new client.Gauge({ name: 'shardlog_fsyncs_total', help: 'taken', registers: [registry] });
    expect(() => registerMetrics(log, registry)).toThrow(/already been registered/);
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(['shardlog_fsyncs_total']);
    expect(() => registerMetrics(log, {} as never)).toThrow(expect.objectContaining({ code: 'ERR_SHARDLOG_INVALID_ARGUMENT' }));
    await log.close();
  });
});
