/**
 * The piscina task module of parallel verification: one call checks one segment file
 * (verify-segment.ts) in a pool thread and returns its plain-object result.
 */
import { verifySegment, type SegmentCheck, type SegmentTask } from './verify-segment.js';

export default function verifyTask(task: SegmentTask): SegmentCheck {
  return verifySegment(task);
}
