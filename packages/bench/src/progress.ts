/**
 * The progress line on stderr: on a terminal one line rewritten in place, elsewhere (CI, pipes,
 * files) one plain line per step, so logs stay readable.
 */
export class Progress {
  private done = 0;
  private readonly t0 = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = !!out.isTTY;
  }

  private prefix(): string {
    const w = String(this.total).length;
    const secs = ((Date.now() - this.t0) / 1000).toFixed(0).padStart(3);
    return `[${String(this.done).padStart(w)}/${this.total} ${secs}s]`;
  }

  /** A step starts. */
  start(label: string): void {
    this.done++;
    const line = `${this.prefix()} ${label}`;
    if (this.tty) {
      const cols = this.out.columns || 100;
      this.out.write(`\r\x1b[2K${line.length > cols - 1 ? line.slice(0, cols - 2) + '…' : line}`);
    } else this.out.write(line + '\n');
  }

  /** A message that must stay visible (a failure). */
  note(msg: string): void {
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(msg + '\n');
  }

  /** Clear the line at the end. */
  finish(): void {
    const secs = ((Date.now() - this.t0) / 1000).toFixed(1);
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(`bench: ${this.done} runs in ${secs} s\n`);
  }
}
