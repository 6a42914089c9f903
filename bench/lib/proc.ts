/** Readers of /proc (Linux only): CPU time, memory and open file descriptors of a process. */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * CPU time (user + system, ms) a process has used so far; NaN where /proc cannot tell.
 * `withChildren` adds its children that exited and were waited for (ffprobe runs, say).
 */
export function processCpuMs(pid: number | undefined, options: { withChildren?: boolean } = {}): number {
  if (pid === undefined) return Number.NaN;
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th,
    // cutime and cstime (waited-for children) the 14th and 15th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const children = options.withChildren ? Number(fields[13]) + Number(fields[14]) : 0;
    // Clock ticks; USER_HZ is 100 on every Linux build Node supports.
    return (Number(fields[11]) + Number(fields[12]) + children) * 10;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (ms) all processes on the machine have used since boot; NaN where /proc cannot tell. */
export function machineCpuMs(): number {
  try {
    // "cpu  user nice system idle iowait irq softirq steal ...": everything but idle and iowait.
    const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 10;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size (bytes) from VmRSS; NaN where /proc cannot tell. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** A process's open descriptors by what they point at. */
export type FdCounts = {
  total: number;
  /** Paths on disk (database files, blobs, temp uploads, modules). */
  files: number;
  /** Of `files`, those under `watchDir` (e.g. the blob store's temp folder). */
  inWatchDir: number;
  /** TCP connections whose local port is `httpPort`: the server's side of client connections. */
  httpConnections: number;
  /** Other sockets: the listener, database connections, Unix sockets. */
  otherSockets: number;
  /** Pipes, eventfds, epoll and other anonymous inodes. */
  other: number;
};

/** Socket inode → local port, for the process's TCP sockets (IPv4 and IPv6 tables). */
function tcpLocalPorts(pid: number): Map<string, { port: number; listening: boolean }> {
  const ports = new Map<string, { port: number; listening: boolean }>();
  for (const table of ["tcp", "tcp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    // "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ..."
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (!local || !inode) continue;
      ports.set(inode, { port: Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16), listening: fields[3] === "0A" });
    }
  }
  return ports;
}

/**
 * Counts /proc/<pid>/fd by target. Sockets to the server's own port are told apart from the
 * rest because they follow the client's connections, not a leak; NaNs where /proc cannot tell.
 */
export function fdCounts(pid: number, options: { httpPort: number; watchDir: string }): FdCounts {
  const counts: FdCounts = { total: 0, files: 0, inWatchDir: 0, httpConnections: 0, otherSockets: 0, other: 0 };
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return { total: Number.NaN, files: Number.NaN, inWatchDir: Number.NaN, httpConnections: Number.NaN, otherSockets: Number.NaN, other: Number.NaN };
  }
  const ports = tcpLocalPorts(pid);
  for (const name of names) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      continue; // closed between readdir and readlink
    }
    counts.total += 1;
    const socket = /^socket:\[(\d+)\]$/.exec(target);
    if (socket) {
      const tcp = ports.get(socket[1]!);
      if (tcp && !tcp.listening && tcp.port === options.httpPort) counts.httpConnections += 1;
      else counts.otherSockets += 1;
    } else if (target.startsWith("/")) {
      counts.files += 1;
      if (target.startsWith(`${options.watchDir}/`)) counts.inWatchDir += 1;
    } else {
      counts.other += 1;
    }
  }
  return counts;
}
