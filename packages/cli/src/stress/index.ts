/**
 * @shardlog/cli/stress: the stress runner as a library. runStress() runs one mode (clean, kill/tear,
 * full-disk, writer-exit) and returns the report; parseStressArgs() turns `shardlog stress` options
 * into StressOptions; formatReport() prints a report the way the command does.
 */
export { runStress, modeOf, replayCommand, type RunIO } from './runner.js';
export type { StressReport, StressMode, KillCycle } from './report-types.js';
export { parseStressArgs } from './args.js';
export { formatReport } from './report.js';
export { DEFAULTS, type StressOptions, type SizeDist, type TearMode } from './options.js';
export { Progress } from './progress.js';
