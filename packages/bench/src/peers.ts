/**
 * The peer libraries, imported once with types that work from ESM (sonic-boom is CommonJS whose
 * typings describe the class as a named export; thread-stream's typings lack writableNeedDrain).
 */
import sonicBoomModule from 'sonic-boom';
import ThreadStreamClass from 'thread-stream';

export const SonicBoom = sonicBoomModule.SonicBoom;
export type SonicBoom = InstanceType<typeof sonicBoomModule.SonicBoom>;

export type ThreadStream = InstanceType<typeof ThreadStreamClass> & { readonly writableNeedDrain: boolean };
export const ThreadStream = ThreadStreamClass as unknown as new (opts: ConstructorParameters<typeof ThreadStreamClass>[0]) => ThreadStream;
