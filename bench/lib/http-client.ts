/**
 * The benchmarks' HTTP client: node:http with a keep-alive agent, which costs the CPU the
 * client shares with the server less than fetch does.
 */
import http from "node:http";

export type HttpResponse = { status: number; body: string; ms: number };

export type RequestSpec = { method: "GET" | "POST" | "DELETE"; path: string; headers?: http.OutgoingHttpHeaders; body?: Buffer };

export type Client = { request(spec: RequestSpec): Promise<HttpResponse>; close(): void };

/** A request that did not complete within the client's deadline (its socket is destroyed). */
export class RequestTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no complete response within ${timeoutMs} ms`);
    this.name = "RequestTimeoutError";
  }
}

export type ClientOptions = {
  /** Sockets kept open to the server: the most requests in flight at once. */
  maxSockets: number;
  /** ms from sending to the end of the response; none by default. */
  timeoutMs?: number;
};

export function createClient(baseUrl: string, options: ClientOptions): Client {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const request = (spec: RequestSpec) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const started = performance.now();
      const headers = spec.body ? { ...spec.headers, "content-length": spec.body.length } : spec.headers;
      const req = http.request({ host: url.hostname, port: url.port, method: spec.method, path: spec.path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), ms: performance.now() - started });
        });
        res.on("error", reject);
      });
      // A whole-request deadline, not the socket's idle timeout: a server that trickles or
      // stalls mid-response still counts as timed out.
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => req.destroy(new RequestTimeoutError(options.timeoutMs!)), options.timeoutMs);
      req.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(spec.body);
    });
  return { request, close: () => agent.destroy() };
}
