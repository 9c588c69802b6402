/** The CLI's command registry: one module per command under commands/, one line here each. */
import type { Command } from './command.js';
import { shipCommand } from '@shardlog/ship/command';
import { catCommand } from './commands/cat.js';
import { recoverCommand } from './commands/recover.js';
import { rekeyCommand } from './commands/rekey.js';
import { statsCommand } from './commands/stats.js';
import { stressCommand } from './commands/stress.js';
import { tailCommand } from './commands/tail.js';
import { verifyCommand } from './commands/verify.js';

export const commands: Command[] = [catCommand, verifyCommand, tailCommand, statsCommand, recoverCommand, rekeyCommand, stressCommand, shipCommand];
