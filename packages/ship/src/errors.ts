/**
 * Errors of @shardlog/ship. Like every shardlog error they are ShardlogError subclasses with a
 * stable `code`; a refusal from the server carries the server's own description and error code.
 */
import { ShardlogError } from '@shardlog/workers';

export type ShipErrorCode =
  /** The server refused a publish or a request (stream full, permissions, limits...): see `serverCode`. */
  | 'ERR_SHARDLOG_SHIP_REFUSED'
  /** The stream does not exist (and createStream was not set). */
  | 'ERR_SHARDLOG_SHIP_NO_STREAM'
  /** The log has no identity (its manifest has no `id`). */
  | 'ERR_SHARDLOG_SHIP_NO_LOG_ID'
  /** The stream's subject holds messages of another log, or messages this shipper cannot read. */
  | 'ERR_SHARDLOG_SHIP_FOREIGN'
  /** An entry (with its framing) is larger than the server's max_payload. */
  | 'ERR_SHARDLOG_SHIP_TOO_LARGE'
  /** Reading back: the stream takes no subject `<prefix>.<shard>` (a wrong subject prefix). */
  | 'ERR_SHARDLOG_SHIP_NO_SUBJECT'
  /** A message read back from the stream is not a valid shardlog batch. */
  | 'ERR_SHARDLOG_SHIP_BAD_MESSAGE';

export class ShipError extends ShardlogError {
  /** The JetStream API error code (err_code) when the server refused, e.g. 10077. */
  readonly serverCode: number | undefined;
  constructor(code: ShipErrorCode, message: string, options?: { cause?: unknown; serverCode?: number }) {
    super(code, message, options);
    this.serverCode = options?.serverCode;
  }
}
