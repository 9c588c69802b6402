/**
 * The shape of one `shardlog` command: its name, one-line usage and summary, full --help text, and
 * run(), which parses its own arguments (node:util parseArgs) and returns an exit code.
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
