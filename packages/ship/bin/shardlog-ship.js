#!/usr/bin/env node
// `shardlog-ship`: the `shardlog ship` command on its own; the code is in dist/command.js.
import { runShipCommand } from '../dist/command.js';

process.exitCode = await runShipCommand(process.argv.slice(2));
