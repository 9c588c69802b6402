/**
 * The CLI's command registry: one module per command, one line here each.
 * A command parses its own arguments (node:util parseArgs) and returns an exit code.
 */
export interface Command {
  name: string;
  /** One line: `name ARGS`. */
  usage: string;
  summary: string;
  /** Full --help text. */
  help: string;
  run(args: string[]): Promise<number>;
}

import { catCommand } from './cat.js';
import { recoverCommand } from './recover.js';
import { statsCommand } from './stats.js';
import { stressCommand } from './stress.js';
import { tailCommand } from './tail.js';
import { verifyCommand } from './verify.js';

export const commands: Command[] = [catCommand, verifyCommand, tailCommand, statsCommand, recoverCommand, stressCommand];
