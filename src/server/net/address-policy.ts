/**
 * Which IP addresses the server may connect to on a caller's behalf (the SSRF guard's rules),
 * and the OUTBOUND_ALLOW_HOSTS exceptions. Pure functions over parsed addresses: no DNS here.
 */
import { isIP } from "node:net";

/** Why an address is refused; `null` from `addressRefusal` means it is a public address. */
export type AddressClass =
  | "public"
  | "loopback"
  | "private"
  | "link-local"
  | "CGNAT"
  | "unspecified"
  | "multicast"
  | "broadcast"
  | "reserved"
  | "documentation"
  | "cloud metadata";

type Parsed = { family: 4 | 6; bytes: Uint8Array };
type Cidr = Parsed & { prefix: number };

/** Parses an IPv4 or IPv6 literal (brackets and a zone id allowed) into its bytes, or null. */
export function parseIp(text: string): Parsed | null {
  let address = text.trim();
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  const family = isIP(address);
  if (family === 4) return { family: 4, bytes: Uint8Array.from(address.split(".").map(Number)) };
  if (family !== 6) return null;
  // isIP accepted it, so the shape is valid: expand "::" and an embedded dotted quad.
  let groups: number[] = [];
  const halves = address.split("::");
  const toGroups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const piece of part.split(":")) {
      if (piece.includes(".")) {
        const [a, b, c, d] = piece.split(".").map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(piece, 16));
    }
    return out;
  };
  if (halves.length === 2) {
    const head = toGroups(halves[0]!);
    const tail = toGroups(halves[1]!);
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else groups = toGroups(address);
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return { family: 6, bytes };
}

function parseCidr(text: string): Cidr | null {
  const slash = text.lastIndexOf("/");
  const ip = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  const prefix = slash >= 0 ? Number(text.slice(slash + 1)) : max;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  return { ...ip, prefix };
}

function inCidr(ip: Parsed, cidr: Cidr): boolean {
  if (ip.family !== cidr.family) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip.bytes[i]! & mask) !== (cidr.bytes[i]! & mask)) return false;
  }
  return true;
}

function cidrs(list: Array<[string, AddressClass]>): Array<[Cidr, AddressClass]> {
  return list.map(([text, kind]) => [parseCidr(text)!, kind]);
}

// Order matters: the first match names the class (metadata before link-local, and so on).
const V4_RULES = cidrs([
  ["169.254.169.254/32", "cloud metadata"], // AWS, GCP, Azure, OpenStack
  ["100.100.100.200/32", "cloud metadata"], // Alibaba Cloud
  ["0.0.0.0/32", "unspecified"],
  ["0.0.0.0/8", "reserved"], // "this network"
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "CGNAT"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"], // IETF protocol assignments
  ["192.0.2.0/24", "documentation"],
  ["192.88.99.0/24", "reserved"], // retired 6to4 relay anycast
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "reserved"], // benchmarking
  ["198.51.100.0/24", "documentation"],
  ["203.0.113.0/24", "documentation"],
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "broadcast"],
  ["240.0.0.0/4", "reserved"],
]);

const V6_RULES = cidrs([
  ["fd00:ec2::254/128", "cloud metadata"], // AWS IMDS over IPv6
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["100::/64", "reserved"], // discard-only
  ["2001:db8::/32", "documentation"],
  ["fc00::/7", "private"], // unique local
  ["fe80::/10", "link-local"],
  ["fec0::/10", "private"], // deprecated site-local
  ["ff00::/8", "multicast"],
]);

const GLOBAL_UNICAST_V6 = parseCidr("2000::/3")!;

/** IPv6 forms that carry an IPv4 address a packet may end up at: mapped, compatible, NAT64, 6to4. */
function embeddedV4(ip: Parsed): Parsed | null {
  if (ip.family !== 6) return null;
  const b = ip.bytes;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return { family: 4, bytes: b.slice(12, 16) }; // ::ffff:a.b.c.d
  if (inCidr(ip, parseCidr("64:ff9b::/96")!)) return { family: 4, bytes: b.slice(12, 16) }; // NAT64
  if (zeros(0, 12) && !zeros(12, 15)) return { family: 4, bytes: b.slice(12, 16) }; // ::a.b.c.d (deprecated)
  if (b[0] === 0x20 && b[1] === 0x02) return { family: 4, bytes: b.slice(2, 6) }; // 6to4
  return null;
}

function isMapped(ip: Parsed): boolean {
  return ip.bytes.slice(0, 10).every((x) => x === 0) && ip.bytes[10] === 0xff && ip.bytes[11] === 0xff;
}

function classifyParsed(ip: Parsed): AddressClass {
  const v4 = embeddedV4(ip);
  if (v4) return classifyParsed(v4);
  for (const [cidr, kind] of ip.family === 4 ? V4_RULES : V6_RULES) if (inCidr(ip, cidr)) return kind;
  // Outside 2000::/3 nothing is assigned as global unicast: treat the rest as reserved.
  if (ip.family === 6 && !inCidr(ip, GLOBAL_UNICAST_V6)) return "reserved";
  return "public";
}

/** The class of an IP literal; a string that is not an IP address is "reserved" (never connectable). */
export function classifyAddress(address: string): AddressClass {
  const ip = parseIp(address);
  return ip ? classifyParsed(ip) : "reserved";
}

/** A sentence saying why `address` may not be connected to, or null for a public address. */
export function addressRefusal(address: string): string | null {
  const kind = classifyAddress(address);
  if (kind === "public") return null;
  return `${address} is ${kind === "unspecified" ? "an" : "a"} ${kind} address`;
}

/** OUTBOUND_ALLOW_HOSTS compiled: hostnames (exact, case-insensitive) and CIDRs. */
export class AllowList {
  private readonly hosts = new Set<string>();
  private readonly ranges: Cidr[] = [];

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      const cidr = parseCidr(entry);
      // "::ffff:10.0.0.0/104" means 10.0.0.0/8: compare it as IPv4 (never NAT64 or 6to4 ranges).
      const mapped = cidr && cidr.family === 6 && cidr.prefix >= 96 && isMapped(cidr) ? embeddedV4(cidr) : null;
      if (mapped) this.ranges.push({ ...mapped, prefix: cidr!.prefix - 96 });
      else if (cidr) this.ranges.push(cidr);
      else this.hosts.add(stripDot(entry));
    }
  }

  /** The request's host name is listed (any address it resolves to passes). */
  allowsHost(hostname: string): boolean {
    return this.hosts.has(stripDot(hostname.toLowerCase()));
  }

  /** The address lies in a listed CIDR (IPv4-mapped IPv6 compared as its IPv4 address). */
  allowsAddress(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    const mapped = ip.family === 6 ? embeddedV4(ip) : null;
    return this.ranges.some((range) => inCidr(ip, range) || (mapped !== null && inCidr(mapped, range)));
  }
}

function stripDot(host: string): string {
  return host.endsWith(".") ? host.slice(0, -1) : host;
}
