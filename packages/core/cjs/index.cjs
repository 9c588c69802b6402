'use strict';
/**
 * @shardlog/core for require(): the package is an ES module. Where Node.js can require() ES
 * modules (20.19+, 22.12+: process.features.require_module), this loads it and exports the same
 * API. Older Node.js cannot load it synchronously, so require() throws an error (code
 * ERR_SHARDLOG_REQUIRE_ESM) saying to use import() instead.
 */
if (process.features && process.features.require_module) {
  module.exports = require('../dist/index.js');
} else {
  const err = new Error(
    `@shardlog/core is an ES module and Node.js ${process.version} cannot require() ES modules: ` +
      "load it with `const { openLog } = await import('@shardlog/core')` (works from CommonJS too), " +
      'or use Node.js 20.19 / 22.12 or newer, where require() loads it.',
  );
  err.code = 'ERR_SHARDLOG_REQUIRE_ESM';
  throw err;
}
