// The worker's HTTP endpoint for Prometheus and for supervisors (Kubernetes probes, systemd
// watchdogs): /metrics, /healthz (the process answers) and /readyz (it is doing its job).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MaruError } from "../../client/index.js";
import type { PrometheusMetrics } from "./metrics.js";

/** A running metrics server. */
export type MetricsServer = { port: number; host: string; close(): Promise<void> };

/**
 * Serves `metrics` on host:port. Port 0 picks a free one (see `port` of the result).
 * @example
 * ```ts
 * const server = await startMetricsServer({ port: 9464, host: "127.0.0.1", metrics });
 * // curl http://127.0.0.1:9464/metrics
 * ```
 */
export async function startMetricsServer(o: {
  port: number;
  host: string;
  metrics: PrometheusMetrics;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      o.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": o.metrics.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${e.message}\n`),
      );
    } else if (path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"alive":true}\n');
    } else if (path === "/readyz") {
      o.metrics.checkReadiness().then(
        (r) => {
          const failed = Object.entries(r.checks)
            .filter(([, c]) => !c.ok)
            .map(([name]) => name);
          res
            .writeHead(r.ready ? 200 : 503, { "content-type": "application/json" })
            .end(JSON.stringify({ ready: r.ready, failed, checks: r.checks }) + "\n");
        },
        (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${e.message}\n`),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: /metrics, /healthz, /readyz\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new MaruError(`Cannot serve metrics on ${o.host}:${o.port} (${e.code ?? e.message})`, {
          fix:
            e.code === "EADDRINUSE"
              ? "another process uses the port: pick another --metrics-port"
              : "check --metrics-host and --metrics-port",
        }),
      ),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host: o.host,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
