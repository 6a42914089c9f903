import { spawn, type ChildProcessByStdio } from "node:child_process";
import { EventEmitter } from "node:events";
import path from "node:path";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/**
 * Starts programs through a small helper process instead of forking this one.
 *
 * Node starts a child with fork() + exec(). fork() copies this process's page tables and
 * marks every private page copy-on-write, so after each start every page the process writes
 * again faults once: an engine process holding a Whisper model and its activations (1.2 GB)
 * spent a fifth of its CPU time in the kernel, mostly on those faults, with one ffmpeg start
 * per file (and the start itself blocked the thread for 40–80 ms). The launcher is forked
 * once, is small, and does the forking; the program's output comes back over a pipe.
 *
 * One launcher per thread (the module's state is per isolate), started on first use and
 * again if it dies; it exits when this process (or thread) lets go of its stdin.
 */

const CHILD_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "process-launcher-child.mjs");

const Frame = { stdout: 1, stderr: 2, exit: 3, error: 4, started: 5 } as const;
const HEADER_BYTES = 9;

const exitSchema = z.object({ code: z.number().int().nullable(), signal: z.string().nullable() });
const errorSchema = z.object({ message: z.string(), code: z.string().nullable() });
const startedSchema = z.object({ pid: z.number().int() });

/** The part of a ChildProcess a launched program offers: its output, kill, and 'error' / 'close' events. */
export class LaunchedProcess extends EventEmitter<{ close: [code: number | null, signal: NodeJS.Signals | null]; error: [error: NodeJS.ErrnoException] }> {
  readonly stdout: Readable = new PassThrough();
  readonly stderr: Readable = new PassThrough();
  /** The program's process id, once it has started. */
  pid: number | undefined;
  private ended = false;

  constructor(
    readonly id: number,
    private readonly sendKill: (id: number, signal: NodeJS.Signals) => void,
  ) {
    super();
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (!this.ended) this.sendKill(this.id, signal);
  }

  /** @internal Output from the launcher. */
  receive(kind: number, payload: Buffer): void {
    if (this.ended) return;
    if (kind === Frame.stdout) (this.stdout as PassThrough).write(payload);
    else if (kind === Frame.stderr) (this.stderr as PassThrough).write(payload);
    else if (kind === Frame.started) this.pid = startedSchema.parse(JSON.parse(payload.toString("utf8"))).pid;
    else if (kind === Frame.exit) {
      const { code, signal } = exitSchema.parse(JSON.parse(payload.toString("utf8")));
      this.finish(() => this.emit("close", code, signal as NodeJS.Signals | null));
    } else if (kind === Frame.error) {
      const { message, code } = errorSchema.parse(JSON.parse(payload.toString("utf8")));
      this.fail(Object.assign(new Error(message), code ? { code } : {}));
    }
  }

  /** @internal The launcher is gone: the program's fate is unknown, and it has been killed with the launcher. */
  fail(error: NodeJS.ErrnoException): void {
    this.finish(() => this.emit("error", error));
  }

  private finish(announce: () => void): void {
    if (this.ended) return;
    this.ended = true;
    // Let the streams' readers see the end of output before the process's end.
    let open = 2;
    const done = () => {
      if (--open === 0) announce();
    };
    for (const stream of [this.stdout, this.stderr] as PassThrough[]) {
      stream.once("end", done);
      stream.end();
      // An unread stream never emits 'end'; reading it to its end costs nothing (it is empty or buffered).
      if (stream.listenerCount("data") === 0 && !stream.readableFlowing) stream.resume();
    }
  }
}

class Launcher {
  private readonly process: ChildProcessByStdio<Writable, Readable, null>;
  private readonly running = new Map<number, LaunchedProcess>();
  private nextId = 1;
  private pending: Buffer = Buffer.alloc(0);
  private gone = false;

  constructor(private readonly onGone: (launcher: Launcher) => void) {
    this.process = spawn(process.execPath, [CHILD_SCRIPT], { stdio: ["pipe", "pipe", "inherit"] });
    this.process.stdout.on("data", (chunk: Buffer) => this.read(chunk));
    this.process.once("error", (error) => this.lost(error));
    this.process.once("exit", (code, signal) => this.lost(new Error(`The process launcher exited (${signal ?? `code ${code}`})`)));
    this.process.stdin.on("error", () => {
      // The launcher is gone; 'exit' reports it.
    });
    this.idle();
  }

  start(command: string, args: readonly string[], options: LaunchOptions): LaunchedProcess {
    const id = this.nextId++;
    const launched = new LaunchedProcess(id, (target, signal) => this.write({ op: "kill", id: target, signal }));
    if (this.gone) {
      queueMicrotask(() => launched.fail(new Error("The process launcher exited")));
      return launched;
    }
    this.running.set(id, launched);
    const forget = () => {
      this.running.delete(id);
      if (this.running.size === 0) this.idle();
    };
    launched.once("close", forget);
    launched.once("error", forget);
    this.busy();
    // The caller's environment as it is now, as spawn() would take it (the launcher's own is
    // a copy from when it started).
    this.write({ op: "run", id, command, args, ...(options.cwd ? { cwd: options.cwd } : {}), env: options.env ?? process.env });
    return launched;
  }

  private write(message: object): void {
    if (!this.gone) this.process.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private read(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    while (this.pending.length - offset >= HEADER_BYTES) {
      const length = this.pending.readUInt32BE(offset + 5);
      if (this.pending.length - offset < HEADER_BYTES + length) break;
      const kind = this.pending.readUInt8(offset);
      const id = this.pending.readUInt32BE(offset + 1);
      // A view, not a copy: every chunk a pipe delivers is a fresh buffer, never reused.
      const payload = this.pending.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
      offset += HEADER_BYTES + length;
      this.running.get(id)?.receive(kind, payload);
    }
    this.pending = offset === this.pending.length ? Buffer.alloc(0) : this.pending.subarray(offset);
  }

  private lost(error: Error): void {
    if (this.gone) return;
    this.gone = true;
    this.onGone(this);
    for (const launched of [...this.running.values()]) launched.fail(error);
    this.running.clear();
  }

  /** Nothing running: the launcher must not keep this process (or thread) alive. */
  private idle(): void {
    this.process.unref();
    (this.process.stdout as Readable & { unref?: () => void }).unref?.();
    (this.process.stdin as Writable & { unref?: () => void }).unref?.();
  }

  private busy(): void {
    this.process.ref();
    (this.process.stdout as Readable & { ref?: () => void }).ref?.();
    (this.process.stdin as Writable & { ref?: () => void }).ref?.();
  }

  /** For tests: the launcher's own process id. */
  get pid(): number | undefined {
    return this.process.pid;
  }

  close(): void {
    this.process.stdin.end();
  }
}

let launcher: Launcher | null = null;
let launches = 0;

function current(): Launcher {
  launcher ??= new Launcher((gone) => {
    if (launcher === gone) launcher = null;
  });
  return launcher;
}

export type LaunchOptions = {
  /** The program's working directory; default the launcher's (this process's at its start). */
  cwd?: string | undefined;
  /** The program's environment; default this process's, as it is at the call. */
  env?: NodeJS.ProcessEnv | undefined;
};

/**
 * Starts `command args` (stdin closed, stdout and stderr piped) from the launcher process.
 * Errors (a missing binary, the launcher dying) come as an 'error' event, as with spawn().
 */
export function launchProcess(command: string, args: readonly string[], options: LaunchOptions = {}): LaunchedProcess {
  launches++;
  return current().start(command, args, options);
}

/** Programs started through the launcher by this thread so far. */
export function launchCount(): number {
  return launches;
}

/** The launcher's process id (starting it if need be); for tests. */
export function launcherPid(): number | undefined {
  return current().pid;
}

/** Stops this thread's launcher; the next launch starts a new one. */
export function closeLauncher(): void {
  launcher?.close();
}
