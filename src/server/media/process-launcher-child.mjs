// The process launcher (see process-launcher.ts): a small Node process that starts programs
// for a large one. It reads JSON lines on stdin ({op:"run", id, command, args, cwd?, env?} and
// {op:"kill", id, signal}) and writes frames on stdout: kind (1 byte), id (4 bytes), payload
// length (4 bytes), payload. It exits, killing what it started, when its stdin ends.
import { spawn } from "node:child_process";
import readline from "node:readline";

const STDOUT = 1;
const STDERR = 2;
const EXIT = 3;
const ERROR = 4;
const STARTED = 5;

const children = new Map();
let blocked = false;

function send(kind, id, payload) {
  const header = Buffer.alloc(9);
  header.writeUInt8(kind, 0);
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(payload.length, 5);
  process.stdout.write(header);
  // Backpressure: stop reading every child until the parent has taken what was written.
  if (!process.stdout.write(payload) && !blocked) {
    blocked = true;
    for (const child of children.values()) child.stdout.pause();
    process.stdout.once("drain", () => {
      blocked = false;
      for (const child of children.values()) child.stdout.resume();
    });
  }
}

function run(id, command, args, cwd, env) {
  let child;
  try {
    child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...(cwd ? { cwd } : {}), ...(env ? { env } : {}) });
  } catch (error) {
    send(ERROR, id, Buffer.from(JSON.stringify({ message: String(error?.message ?? error), code: error?.code ?? null })));
    return;
  }
  children.set(id, child);
  if (blocked) child.stdout.pause();
  child.once("spawn", () => send(STARTED, id, Buffer.from(JSON.stringify({ pid: child.pid }))));
  child.stdout.on("data", (chunk) => send(STDOUT, id, chunk));
  child.stderr.on("data", (chunk) => send(STDERR, id, chunk));
  child.once("error", (error) => {
    children.delete(id);
    send(ERROR, id, Buffer.from(JSON.stringify({ message: error.message, code: error.code ?? null })));
  });
  child.once("close", (code, signal) => {
    if (!children.delete(id)) return;
    send(EXIT, id, Buffer.from(JSON.stringify({ code, signal })));
  });
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.op === "run") run(message.id, message.command, message.args, message.cwd, message.env);
  else if (message.op === "kill") children.get(message.id)?.kill(message.signal);
});
process.stdin.once("end", () => {
  for (const child of children.values()) child.kill("SIGKILL");
  process.exit(0);
});
