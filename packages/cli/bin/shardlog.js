#!/usr/bin/env node
// The `shardlog` command; the code is in dist/cli.js (built from src/cli.ts).
import '../dist/cli.js';
