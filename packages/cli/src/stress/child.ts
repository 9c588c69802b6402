/**
 * The writer child of kill mode: the runner forks this module, sends it a SessionConfig over IPC,
 * and SIGKILLs it at some moment while it appends. Every message of the session (ready, ack points,
 * stats, histograms) goes to the runner over the IPC channel as it happens, so the runner knows which
 * entries were acknowledged (durable() resolved) before the kill; anything still queued in this
 * process when it dies was never reported, so it is not counted as acknowledged.
 */
import { runSession, type SessionConfig } from './session.js';

const send = (m: unknown) => {
  if (process.connected) process.send!(m);
};

process.once('message', (cfg: SessionConfig) => {
  runSession(cfg, send).then(
    () => process.disconnect(),
    (e: unknown) => {
      const err = e as Error & { code?: string };
      send({ type: 'child-error', message: err.message, code: err.code });
      process.disconnect();
      process.exitCode = 1;
    },
  );
});
