import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { text } from "node:stream/consumers";
import { AllowList, addressRefusal, classifyAddress } from "../../src/server/net/address-policy";
import { OutboundRefusedError, OutboundTimeoutError, outboundRequest } from "../../src/server/net/outbound-http";

describe("classifyAddress", () => {
  const cases: Array<[string, string]> = [
    ["127.0.0.1", "loopback"],
    ["127.255.1.2", "loopback"],
    ["::1", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["169.254.1.1", "link-local"],
    ["fe80::1", "link-local"],
    ["100.64.0.1", "CGNAT"],
    ["100.127.255.255", "CGNAT"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["169.254.169.254", "cloud metadata"],
    ["fd00:ec2::254", "cloud metadata"],
    ["100.100.100.200", "cloud metadata"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:169.254.169.254", "cloud metadata"],
    ["::ffff:10.1.2.3", "private"],
    ["64:ff9b::a00:1", "private"], // NAT64 of 10.0.0.1
    ["2002:7f00:1::", "loopback"], // 6to4 of 127.0.0.1
    ["[::1]", "loopback"],
    ["fe80::1%eth0", "link-local"],
    ["8.8.8.8", "public"],
    ["172.32.0.1", "public"],
    ["100.128.0.1", "public"],
    ["2606:4700:4700::1111", "public"],
    ["::ffff:8.8.8.8", "public"],
    ["not-an-ip", "reserved"],
  ];
  for (const [address, kind] of cases) {
    it(`${address} is ${kind}`, () => assert.equal(classifyAddress(address), kind));
  }
  it("says why in a sentence", () => {
    assert.equal(addressRefusal("127.0.0.1"), "127.0.0.1 is a loopback address");
    assert.equal(addressRefusal("::"), ":: is an unspecified address");
    assert.equal(addressRefusal("8.8.8.8"), null);
  });
});

describe("AllowList", () => {
  it("matches hostnames case-insensitively and addresses inside CIDRs (mapped IPv6 too)", () => {
    const allow = new AllowList(["Media.Internal", "10.0.0.0/8", "fd00::/8", "127.0.0.1"]);
    assert.ok(allow.allowsHost("media.internal"));
    assert.ok(allow.allowsHost("MEDIA.INTERNAL."));
    assert.ok(!allow.allowsHost("other.internal"));
    assert.ok(allow.allowsAddress("10.9.8.7"));
    assert.ok(allow.allowsAddress("::ffff:10.9.8.7"));
    assert.ok(allow.allowsAddress("fd00::5"));
    assert.ok(allow.allowsAddress("127.0.0.1"));
    assert.ok(!allow.allowsAddress("127.0.0.2"));
    assert.ok(!allow.allowsAddress("192.168.0.1"));
  });
});

describe("outboundRequest", () => {
  let server: http.Server;
  let port: number;
  const seen: Array<{ path: string; method: string; auth: string | undefined }> = [];

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ path: req.url ?? "", method: req.method ?? "", auth: req.headers.authorization });
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/ok") return void res.end("hello");
      if (url.pathname === "/to") {
        res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: url.searchParams.get("url")! });
        return void res.end();
      }
      const chain = /^\/chain\/(\d+)$/.exec(url.pathname);
      if (chain) {
        const left = Number(chain[1]);
        if (left === 0) return void res.end("end of chain");
        res.writeHead(302, { location: `/chain/${left - 1}` });
        return void res.end();
      }
      if (url.pathname === "/hang") return; // never answers
      if (url.pathname === "/trickle") return void res.writeHead(200).write("partial"); // headers, then a body that never ends
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const none = { allowHosts: [] };
  const local = { allowHosts: ["127.0.0.1"] };
  const get = (url: string, policy: { allowHosts: string[] }, extra: object = {}) =>
    outboundRequest({ url, timeoutMs: 10_000, ...extra }, policy);

  async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof OutboundRefusedError, `expected OutboundRefusedError, got ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    });
  }

  it("refuses loopback, private, metadata and IPv6 loopback literals", async () => {
    await refused(get(`http://127.0.0.1:${port}/ok`, none), /127\.0\.0\.1 is a loopback address/);
    await refused(get("http://10.0.0.1/", none), /10\.0\.0\.1 is a private address/);
    await refused(get("http://169.254.169.254/latest/meta-data/", none), /169\.254\.169\.254 is a cloud metadata address/);
    await refused(get(`http://[::1]:${port}/ok`, none), /::1 is a loopback address/);
    await refused(get("http://[::ffff:127.0.0.1]/", none), /loopback/);
    await refused(get("http://0.0.0.0/", none), /unspecified/);
  });

  it("refuses a hostname that resolves to 127.0.0.1 (checked at connect time)", async () => {
    await refused(get(`http://localhost:${port}/ok`, none), /loopback address \(localhost resolves to it\)/);
  });

  it("refuses a name when any of its addresses is internal, and never connects", async () => {
    const resolve = async () => [
      { address: "93.184.216.34", family: 4 },
      { address: "127.0.0.1", family: 4 },
    ];
    const before = seen.length;
    await refused(
      outboundRequest({ url: `http://rebind.example:${port}/ok`, timeoutMs: 10_000 }, none, { resolve }),
      /127\.0\.0\.1 is a loopback address \(rebind\.example resolves to it\)/,
    );
    assert.equal(seen.length, before);
  });

  it("connects to the address it checked, not to a later DNS answer", async () => {
    // The resolver is asked once per connection; the socket goes where that answer says.
    let calls = 0;
    const resolve = async () => {
      calls++;
      return [{ address: "127.0.0.1", family: 4 }];
    };
    const response = await outboundRequest({ url: `http://media.test:${port}/ok`, timeoutMs: 10_000 }, local, { resolve });
    assert.equal(response.status, 200);
    assert.equal(await text(response.body), "hello");
    assert.equal(calls, 1);
  });

  it("refuses schemes other than http and https", async () => {
    await refused(get("file:///etc/passwd", none), /file: URLs are not supported/);
    await refused(get("ftp://example.com/a.wav", none), /ftp: URLs are not supported/);
  });

  it("allows a host listed by address, by CIDR and by name", async () => {
    for (const policy of [local, { allowHosts: ["127.0.0.0/8"] }, { allowHosts: ["::ffff:127.0.0.0/104"] }]) {
      const response = await get(`http://127.0.0.1:${port}/ok`, policy);
      assert.equal(response.status, 200);
      assert.equal(await text(response.body), "hello");
    }
    const byName = await get(`http://LOCALHOST:${port}/ok`, { allowHosts: ["localhost"] });
    assert.equal(byName.status, 200);
    assert.equal(await text(byName.body), "hello");
  });

  it("refuses a redirect from an allowed server to a private or loopback address", async () => {
    const to = (target: string) => `http://127.0.0.1:${port}/to?url=${encodeURIComponent(target)}`;
    await refused(get(to("http://10.1.2.3/"), local), /10\.1\.2\.3 is a private address/);
    await refused(get(to(`http://[::1]:${port}/ok`), local), /::1 is a loopback address/);
    await refused(get(to("http://169.254.169.254/"), local), /cloud metadata/);
    // A name resolving to an allowed address passes: the allow list is about where the socket goes.
    const viaName = await get(to(`http://localhost:${port}/ok`), local);
    assert.equal(await text(viaName.body), "hello");
    // Allowed by name, then pointed at another name that resolves to loopback: refused.
    const resolve = async () => [{ address: "127.0.0.1", family: 4 }];
    await refused(
      outboundRequest({ url: `http://origin.test:${port}/to?url=${encodeURIComponent(`http://internal.test:${port}/ok`)}`, timeoutMs: 10_000 }, { allowHosts: ["origin.test"] }, { resolve }),
      /127\.0\.0\.1 is a loopback address \(internal\.test resolves to it\)/,
    );
  });

  it("follows up to 3 redirects and refuses a 4th", async () => {
    const three = await get(`http://127.0.0.1:${port}/chain/3`, local);
    assert.equal(three.status, 200);
    assert.equal(three.url, `http://127.0.0.1:${port}/chain/0`);
    assert.equal(await text(three.body), "end of chain");
    await refused(get(`http://127.0.0.1:${port}/chain/4`, local), /too many redirects/);
  });

  it("returns a redirect as is when maxRedirects is 0", async () => {
    const response = await get(`http://127.0.0.1:${port}/chain/1`, local, { maxRedirects: 0 });
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, "/chain/0");
    response.body.resume();
  });

  it("turns POST into GET on 303 and drops the caller's headers across origins", async () => {
    const target = encodeURIComponent(`http://localhost:${port}/ok`);
    const response = await outboundRequest(
      {
        url: `http://127.0.0.1:${port}/to?status=303&url=${target}`,
        method: "POST",
        body: "payload",
        headers: { authorization: "Bearer secret" },
        timeoutMs: 10_000,
      },
      { allowHosts: ["127.0.0.1", "localhost"] },
    );
    assert.equal(await text(response.body), "hello");
    const [first, second] = seen.slice(-2);
    assert.deepEqual(first, { path: `/to?status=303&url=${target}`, method: "POST", auth: "Bearer secret" });
    assert.deepEqual(second, { path: "/ok", method: "GET", auth: undefined });
  });

  it("times out a server that never answers", async () => {
    await assert.rejects(get(`http://127.0.0.1:${port}/hang`, local, { timeoutMs: 200 }), OutboundTimeoutError);
  });

  it("ends a body that outlasts timeoutMs with an error (the deadline covers the whole exchange)", async () => {
    const response = await get(`http://127.0.0.1:${port}/trickle`, local, { timeoutMs: 300 });
    assert.equal(response.status, 200);
    await assert.rejects(text(response.body), OutboundTimeoutError);
  });

  it("stops when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const pending = get(`http://127.0.0.1:${port}/hang`, local, { signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await assert.rejects(pending);
  });
});
