/** Benchmark entry point (placeholder until the harness lands). */
process.stdout.write('shardlog bench: harness not built yet\n');
