// @ts-check
/**
 * Command-line arguments of the ingest example's scripts: --help prints the usage line, and an
 * unknown option or a bad value prints what is wrong and the usage line (exit status 2), never a
 * stack trace or a silent fallback.
 */
import { parseArgs } from 'node:util';

/**
 * Parse process.argv with `options` (node:util parseArgs); exits on --help or a bad option.
 * @param {string} usage
 * @param {Record<string, { type: 'string' | 'boolean', default?: string }>} options
 * @returns {Record<string, string | undefined>}
 */
export function parseCli(usage, options) {
  let values;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    fail(usage, /** @type {Error} */ (e).message);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return /** @type {Record<string, string | undefined>} */ (values);
}

/**
 * An integer option from `min` to `max`; anything else exits with the usage line.
 * @param {string} usage
 * @param {string} name
 * @param {string | undefined} value
 * @param {number} min
 * @param {number} max
 */
export function intOption(usage, name, value, min, max) {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    fail(usage, `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * One of `allowed`, or exit with the usage line.
 * @template {string} T
 * @param {string} usage
 * @param {string} name
 * @param {string | undefined} value
 * @param {readonly T[]} allowed
 * @returns {T}
 */
export function oneOf(usage, name, value, allowed) {
  if (!allowed.includes(/** @type {T} */ (value))) fail(usage, `--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return /** @type {T} */ (value);
}

/**
 * @param {string} usage
 * @param {string} message
 * @returns {never}
 */
function fail(usage, message) {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}
