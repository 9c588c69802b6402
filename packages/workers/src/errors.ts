/**
 * Typed errors. Every error shardlog throws or rejects with is a ShardlogError with a stable `code`,
 * so callers can branch on `err.code` (like Node's own errors) or on the class.
 */

export class ShardlogError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad options or arguments (wrong type, out of range). The log is unchanged. */
export class InvalidArgumentError extends ShardlogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SHARDLOG_INVALID_ARGUMENT', message, options);
  }
}

/** An entry (or an appendMany batch) larger than the ring allows. The log is unchanged. */
export class EntryTooLargeError extends ShardlogError {
  readonly size: number;
  readonly limit: number;
  /** For an appendMany batch too large as a whole (each entry fits): how many entries it had. */
  readonly entries: number | undefined;
  constructor(size: number, limit: number, batch?: { entries: number; message: string }) {
    super('ERR_SHARDLOG_ENTRY_TOO_LARGE', batch?.message ?? `entry of ${size} bytes is larger than the ${limit} bytes this log's ring allows (raise ringBytes)`);
    this.size = size;
    this.limit = limit;
    this.entries = batch?.entries;
  }
}

/** The ring had no room and the log was opened with onFull: 'throw' (or the wait timed out). */
export class RingFullError extends ShardlogError {
  readonly shard: number;
  constructor(shard: number, detail = '') {
    super('ERR_SHARDLOG_RING_FULL', `ring of shard ${shard} is full${detail}`);
    this.shard = shard;
  }
}

/** append/durable after close() began. */
export class LogClosedError extends ShardlogError {
  constructor(message = 'the log is closed') {
    super('ERR_SHARDLOG_CLOSED', message);
  }
}

/** A write, sync or worker failure. The log refuses further appends; nothing is retried. */
export class ShardFailedError extends ShardlogError {
  readonly shard: number;
  constructor(shard: number, message: string, options?: { cause?: unknown }) {
    super('ERR_SHARDLOG_SHARD_FAILED', `shard ${shard} failed: ${message}`, options);
    this.shard = shard;
  }
}

/** A shard writer thread could not start (its script missing or failing to load): openLog rejects with it. */
export class WriterStartError extends ShardlogError {
  readonly shard: number;
  constructor(shard: number, detail: string, options?: { cause?: unknown }) {
    super('ERR_SHARDLOG_WRITER_START', `the writer thread of shard ${shard} could not start: ${detail}`, options);
    this.shard = shard;
  }
}

/**
 * Another process (or another open in this one) holds the log's lock. Names the lock file and the
 * holder's pid, and says how to clear it.
 */
export class LogLockedError extends ShardlogError {
  readonly pid: number;
  /** The lock file. */
  readonly file: string;
  constructor(dir: string, file: string, pid: number, detail?: string) {
    const how =
      pid === process.pid
        ? 'it is already open in this process: close it first'
        : `stop that process, or remove ${file} if you are sure no process has the log open`;
    super('ERR_SHARDLOG_LOCKED', `log ${dir} is locked by process ${pid}${detail ? ` (${detail})` : ''} (lock file ${file}): ${how}`);
    this.pid = pid;
    this.file = file;
  }
}

/** The log's directory cannot be created, opened or written (a read-only file system, a path that is a file, no permission). `cause` holds the system error. */
export class LogOpenError extends ShardlogError {
  readonly path: string;
  constructor(path: string, detail: string, options?: { cause?: unknown }) {
    super('ERR_SHARDLOG_OPEN', `cannot open the log at ${path}: ${detail}`, options);
    this.path = path;
  }
}

/** A record or segment is corrupt somewhere other than a torn tail. */
export class CorruptLogError extends ShardlogError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, detail: string) {
    super('ERR_SHARDLOG_CORRUPT', `corrupt log: ${file} at offset ${offset}: ${detail}`);
    this.file = file;
    this.offset = offset;
  }
}

/** A file that is not a shardlog segment, or one of a format this version does not know. */
export class LogFormatError extends ShardlogError {
  readonly file: string;
  constructor(file: string, detail: string) {
    super('ERR_SHARDLOG_FORMAT', `${file}: ${detail}`);
    this.file = file;
  }
}

/**
 * An encrypted segment cannot be opened: its key id is not among the keys given (or no keys were
 * given), or the key under that id is not the one it was sealed with. `keyId` names the key the
 * segment asks for; the key bytes are never part of the message.
 */
export class KeyError extends ShardlogError {
  readonly keyId: string;
  readonly file: string | undefined;
  constructor(keyId: string, detail: string, file?: string) {
    super('ERR_SHARDLOG_KEY', `${file ? `${file}: ` : ''}key ${JSON.stringify(keyId)}: ${detail}`);
    this.keyId = keyId;
    this.file = file;
  }
}

/** Errors as they cross a thread boundary (structured clone keeps only plain fields). */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  syscall?: string;
  errno?: number;
  stack?: string;
  file?: string;
  offset?: number;
  shard?: number;
  keyId?: string;
}

export function serializeError(e: unknown): SerializedError {
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    return {
      name: String(o.name ?? 'Error'),
      message: String(o.message ?? e),
      code: typeof o.code === 'string' ? o.code : undefined,
      syscall: typeof o.syscall === 'string' ? o.syscall : undefined,
      errno: typeof o.errno === 'number' ? o.errno : undefined,
      stack: typeof o.stack === 'string' ? o.stack : undefined,
      file: typeof o.file === 'string' ? o.file : undefined,
      offset: typeof o.offset === 'number' ? o.offset : undefined,
      shard: typeof o.shard === 'number' ? o.shard : undefined,
      keyId: typeof o.keyId === 'string' ? o.keyId : undefined,
    };
  }
  return { name: 'Error', message: String(e) };
}

/** Rebuild a thrown error on this side: shardlog errors get their class back, system errors their code. */
export function deserializeError(s: SerializedError): Error {
  let e: Error;
  switch (s.code) {
    case 'ERR_SHARDLOG_CORRUPT':
      e = new CorruptLogError(s.file ?? '?', s.offset ?? -1, s.message.replace(/^corrupt log: .*? at offset -?\d+: /, ''));
      e.message = s.message;
      break;
    case 'ERR_SHARDLOG_FORMAT':
      e = new LogFormatError(s.file ?? '?', s.message);
      e.message = s.message;
      break;
    case 'ERR_SHARDLOG_WRITER_START':
      e = new WriterStartError(s.shard ?? 0, s.message);
      e.message = s.message;
      break;
    case 'ERR_SHARDLOG_KEY':
      e = new KeyError(s.keyId ?? '?', s.message, s.file);
      e.message = s.message;
      break;
    case 'ERR_SHARDLOG_INVALID_ARGUMENT':
      e = new InvalidArgumentError(s.message);
      break;
    default: {
      const err = new Error(s.message) as Error & { code?: string; syscall?: string; errno?: number };
      if (s.code) err.code = s.code;
      if (s.syscall) err.syscall = s.syscall;
      if (s.errno !== undefined) err.errno = s.errno;
      err.name = s.name;
      e = err;
    }
  }
  if (s.stack) e.stack = s.stack;
  return e;
}

/** A log manager already has maxOpenLogs open and was told not to close idle ones (onLimit: 'error'). */
export class TooManyLogsError extends ShardlogError {
  readonly limit: number;
  constructor(limit: number) {
    super('ERR_SHARDLOG_TOO_MANY_LOGS', `${limit} logs are open, the manager's maxOpenLogs: close one first (or use onLimit: 'evict')`);
    this.limit = limit;
  }
}
