/**
 * Per-file and overall progress bars on stderr. On a terminal the block is redrawn in place;
 * elsewhere (CI logs, pipes) a line is written when a file changes phase, so logs stay short.
 */
export class ProgressBoard {
  private readonly rows = new Map<string, { label: string; fraction: number; phase: string }>();
  private drawnLines = 0;
  private lastDraw = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly totalFiles = 0,
  ) {}

  update(key: string, label: string, fraction: number, phase: string): void {
    const previous = this.rows.get(key);
    this.rows.set(key, { label, fraction, phase });
    if (!this.out.isTTY) {
      if (previous?.phase !== phase) this.out.write(`${phase.padEnd(10)} ${label}\n`);
      return;
    }
    const now = Date.now();
    if (now - this.lastDraw < 80 && previous?.phase === phase && fraction < 1) return;
    this.lastDraw = now;
    this.draw();
  }

  /** A message above the bars (an unsupported file, a retry). */
  note(message: string): void {
    if (this.out.isTTY) this.clear();
    this.out.write(`${message}\n`);
    if (this.out.isTTY) this.draw();
  }

  finish(): void {
    if (this.out.isTTY) this.draw();
  }

  private clear(): void {
    if (this.drawnLines) this.out.write(`\x1b[${this.drawnLines}A\x1b[0J`);
    this.drawnLines = 0;
  }

  private draw(): void {
    this.clear();
    const width = 24;
    const bar = (fraction: number) => `${"█".repeat(Math.round(fraction * width)).padEnd(width, "░")} ${String(Math.round(fraction * 100)).padStart(3)}%`;
    const rows = [...this.rows.values()];
    const lines = rows.slice(-12).map((row) => `${bar(row.fraction)} ${row.phase.padEnd(10)} ${row.label}`);
    const overall = rows.reduce((sum, row) => sum + row.fraction, 0) / Math.max(1, this.totalFiles || rows.length);
    lines.push(`${bar(overall)} overall    ${rows.filter((row) => row.fraction >= 1).length}/${this.totalFiles || rows.length} files`);
    this.out.write(`${lines.join("\n")}\n`);
    this.drawnLines = lines.length;
  }
}
