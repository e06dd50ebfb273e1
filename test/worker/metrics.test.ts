// The worker's /metrics, /healthz and /readyz: readiness and its failing checks in-process, then a
// worker process with --metrics-port against anvil (one worker: MIN_WORKERS and replication 1), scraped while the
// test plays the clock and the VRF mock, until the epoch counters move.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { network } from "hardhat";
import { JsonRpcProvider, Network, Wallet } from "ethers";
import { deployProtocol, loadParameters } from "../../scripts/deploy/lib.js";
import { PrometheusMetrics, RPC_FRESH_MS } from "../../worker/metrics/metrics.js";
import { startMetricsServer } from "../../worker/metrics/server.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { clockFor, clockStep } from "../utils/clock.js";
import { scratchDir } from "../utils/scratch.js";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** A metric's value (unlabelled, or the first series), from Prometheus text. */
const valueOf = (text: string, name: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
};

/** Gauges that have nothing to report before the worker measures them. */
const MEASURED = [
  "maru_worker_current_epoch",
  "maru_worker_last_finished_epoch",
  "maru_worker_epoch_lag",
  "maru_worker_committed_next_epoch",
  "maru_worker_chain_head_age_seconds",
  "maru_worker_chain_head_block",
  "maru_worker_rpc_last_answer_age_seconds",
  "maru_worker_epoch_other_members",
];

/** A JSON-RPC endpoint that answers eth_blockNumber with 0x10, or with an error while `down`. */
async function fakeRpc(): Promise<{ url: string; calls: () => number; down: (d: boolean) => void; close(): void }> {
  let down = false;
  let calls = 0;
  const server = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const parsed = JSON.parse(body) as { id: number } | { id: number }[];
      const answer = (r: { id: number }) => {
        calls++;
        return down
          ? { jsonrpc: "2.0", id: r.id, error: { code: -32000, message: "down" } }
          : { jsonrpc: "2.0", id: r.id, result: "0x10" };
      };
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify(Array.isArray(parsed) ? parsed.map(answer) : answer(parsed)));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    calls: () => calls,
    down: (d) => (down = d),
    close: () => server.close(),
  };
}

type ReadyBody = { ready: boolean; failed: string[]; checks: Record<string, { ok: boolean; detail: string }> };

const FAMILIES = [
  ...MEASURED,
  "maru_worker_peers",
  "maru_worker_transport_refused",
  "maru_worker_batches_sent_total",
  "maru_worker_batches_received_total",
  "maru_worker_batches_rejected_total",
  "maru_worker_evidence_total",
  "maru_worker_operator_seconds",
  "process_cpu_seconds_total",
  "nodejs_eventloop_lag_seconds",
];

describe("worker metrics and health", function () {
  this.timeout(180_000);

  it("reports no value (NaN) for what it has not measured yet, not 0", async () => {
    const metrics = new PrometheusMetrics();
    let text = await metrics.registry.metrics();
    for (const name of MEASURED) {
      expect(text, name).to.match(new RegExp(`^${name} Nan$`, "m"));
      expect(Number.isNaN(valueOf(text, name)), name).to.equal(true);
    }
    // Measured, epoch 0 and a head are values again.
    metrics.currentEpoch(0n);
    metrics.finished(0n);
    metrics.chainHead(7, Math.floor(Date.now() / 1000));
    metrics.rpcAnswered();
    metrics.members(1n, 0);
    text = await metrics.registry.metrics();
    expect(valueOf(text, "maru_worker_current_epoch")).to.equal(0);
    expect(valueOf(text, "maru_worker_epoch_lag")).to.equal(0);
    expect(valueOf(text, "maru_worker_chain_head_block")).to.equal(7);
    expect(valueOf(text, "maru_worker_rpc_last_answer_age_seconds")).to.be.within(0, 1);
    expect(valueOf(text, "maru_worker_epoch_other_members")).to.equal(0);
    expect(Number.isNaN(valueOf(text, "maru_worker_committed_next_epoch"))).to.equal(true);
  });

  it("the rpc check: answers with a result through the watched provider, a limit of max(30 s, 3 polls), its own question when idle", async () => {
    expect(new PrometheusMetrics().rpcFreshMs).to.equal(RPC_FRESH_MS);
    expect(new PrometheusMetrics({ pollMs: 60_000 }).rpcFreshMs).to.equal(180_000);
    // A slow poll is not a silent RPC: 100 s after an answer, with --poll-ms 60000, the check passes.
    const slow = new PrometheusMetrics({ pollMs: 60_000 });
    const t = Date.now();
    slow.rpcAnswered(t);
    expect(slow.readiness(t + 100_000).checks.rpc).to.deep.equal({
      ok: true,
      detail: "answered 100 s ago (limit 180 s)",
    });
    expect(slow.readiness(t + 181_000).checks.rpc).to.deep.equal({
      ok: false,
      detail: "the RPC last answered 181 s ago (more than 180 s)",
    });

    const rpc = await fakeRpc();
    const provider = new JsonRpcProvider(rpc.url, Network.from(31337), { staticNetwork: true, cacheTimeout: -1 });
    try {
      // Whatever the worker asks through its provider counts; the poll loop need not have run.
      const metrics = new PrometheusMetrics();
      metrics.watchRpc(provider);
      expect(metrics.readiness().checks.rpc.detail).to.equal("the RPC has not answered yet");
      await provider.getBlockNumber();
      await new Promise((r) => setTimeout(r, 10)); // ethers emits its debug events asynchronously
      expect(metrics.readiness().checks.rpc.ok).to.equal(true);
      // An error is not an answer.
      rpc.down(true);
      const failing = new PrometheusMetrics();
      failing.watchRpc(provider);
      await provider.getBlockNumber().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 10));
      expect(failing.readiness().checks.rpc.detail).to.equal("the RPC has not answered yet");
      // /readyz asks the RPC itself when the worker asked nothing lately (a long graph sync).
      failing.rpcAnswered(Date.now() - 40_000);
      let calls = rpc.calls();
      expect((await failing.checkReadiness()).checks.rpc.detail).to.equal(
        "the RPC last answered 40 s ago (more than 30 s)",
      );
      expect(rpc.calls()).to.equal(calls + 1);
      rpc.down(false);
      expect((await failing.checkReadiness()).checks.rpc.ok).to.equal(true);
      calls = rpc.calls();
      await failing.checkReadiness(); // fresh now: no question
      expect(rpc.calls()).to.equal(calls);
    } finally {
      provider.destroy();
      rpc.close();
    }
  });

  it("/readyz says which check fails, and passes once all do", async () => {
    const metrics = new PrometheusMetrics();
    const server = await startMetricsServer({ port: 0, host: "127.0.0.1", metrics });
    try {
      const url = `http://127.0.0.1:${server.port}`;
      expect((await fetch(`${url}/healthz`)).status).to.equal(200);
      let r = await fetch(`${url}/readyz`);
      expect(r.status).to.equal(503);
      expect(((await r.json()) as ReadyBody).failed).to.deep.equal(["rpc", "committed"]);
      metrics.rpcAnswered();
      metrics.committed(2n, true);
      metrics.members(1n, 2);
      r = await fetch(`${url}/readyz`);
      const body = (await r.json()) as ReadyBody;
      expect(r.status).to.equal(503);
      expect(body.failed).to.deep.equal(["peers"]);
      expect(body.checks.peers.detail).to.equal("no peer connected, the epoch has 2 other member(s)");
      metrics.watchTransport(
        () => 1,
        () => ({ refusedConnections: 3 }),
      );
      r = await fetch(`${url}/readyz`);
      expect(r.status).to.equal(200);
      metrics.batchRejected("misrouted-delta");
      metrics.evidence("misrouted-delta", "slashed");
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).to.include('maru_worker_batches_rejected_total{reason="misrouted-delta"} 1');
      expect(text).to.include('maru_worker_evidence_total{fault="misrouted-delta",outcome="slashed"} 1');
      expect(text).to.include('maru_worker_transport_refused{kind="refusedConnections"} 3');
      expect(readinessAfter(metrics, 31_000)).to.equal(false); // the RPC has been silent too long
    } finally {
      await server.close();
    }
  });

  describe("a worker process with --metrics-port (anvil)", () => {
    let node: ChainNode;
    let proc: ChildProcess | undefined;
    const deploymentId = `metrics-${process.pid}-${Date.now()}`;
    before(async () => (node = await startAnvil()));
    after(async () => {
      if (proc && proc.exitCode === null) proc.kill("SIGKILL");
      await node?.stop();
      rmSync(new URL(`../../deploy/deployments/${deploymentId}`, import.meta.url), { recursive: true, force: true });
    });

    it("serves /metrics, /healthz and /readyz, and the epoch counters move", async () => {
      const conn = await network.create({ network: "localhost", override: { url: node.url } });
      const { ethers, provider } = conn;
      const dir = scratchDir("maru-metrics-");
      const bookFile = join(dir, "book.json");
      const local = loadParameters("localhost");
      const book = await deployProtocol(conn, {
        deploymentId,
        bookFile,
        parametersName: "localhost",
        parameters: { ...local, Epochs: { ...local.Epochs, minWorkers: 1, replication: 1 } },
      });
      const token = await ethers.getContractAt("TestToken", book.contracts.stakeToken);
      const epochs = await ethers.getContractAt("EpochManager", book.contracts.epochManager);
      const coordinator = await ethers.getContractAt("VRFCoordinatorV2_5Mock", book.contracts.vrfCoordinator);
      const key = Wallet.createRandom();
      await provider.request({ method: "anvil_setBalance", params: [key.address, "0x56bc75e2d63100000"] });
      await (await token.mint(key.address, await epochs.parameter(0))).wait();
      const port = await freePort();
      let out = "";
      proc = spawn(
        join(process.cwd(), "node_modules/.bin/tsx"),
        [
          "worker/main.ts",
          ...["--rpc", node.url, "--addresses", bookFile, "--until-epoch", "4", "--poll-ms", "150"],
          ...["--confirmations", "1", "--finality", "2", "--data-dir", join(dir, "data")],
          ...["--metrics-port", String(port)],
        ],
        { env: { ...process.env, MARU_WORKER_KEY: key.privateKey }, stdio: ["ignore", "pipe", "pipe"] },
      );
      proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
      const url = `http://127.0.0.1:${port}`;
      const get = (path: string) => fetch(`${url}${path}`).catch(() => undefined);

      // Ready once it has joined and committed to epoch 1 (it is the epoch's only member).
      let ready: Response | undefined;
      for (const t0 = Date.now(); Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 200))) {
        ready = await get("/readyz");
        if (ready?.status === 200) break;
      }
      expect(ready?.status, out).to.equal(200);
      expect(((await ready!.json()) as ReadyBody).checks.committed.detail).to.equal("committed to epoch 1");
      expect((await get("/healthz"))?.status).to.equal(200);
      const first = await (await get("/metrics"))!.text();
      for (const name of FAMILIES) expect(first, name).to.match(new RegExp(`^# TYPE ${name} `, "m"));
      expect(valueOf(first, "maru_worker_current_epoch")).to.equal(0);
      expect(valueOf(first, "maru_worker_committed_next_epoch")).to.equal(1);

      // The clock and the VRF, until the worker is through with epoch 2.
      const clock = clockFor(book, { epochs, coordinator, provider });
      let text = first;
      for (const t0 = Date.now(); Date.now() - t0 < 90_000; await new Promise((r) => setTimeout(r, 200))) {
        await clockStep(clock, (next) => next.committed >= 1n || next.frozen);
        text = (await (await get("/metrics"))?.text()) ?? text;
        if ((valueOf(text, "maru_worker_last_finished_epoch") ?? 0) >= 2) break;
      }
      expect(valueOf(text, "maru_worker_last_finished_epoch"), out).to.be.at.least(2);
      expect(valueOf(text, "maru_worker_current_epoch")).to.be.at.least(2);
      expect(valueOf(text, "maru_worker_chain_head_block")).to.be.above(
        valueOf(first, "maru_worker_chain_head_block")!,
      );
      expect(valueOf(text, "maru_worker_epoch_other_members")).to.equal(0);
      proc.kill("SIGTERM");
      expect(await new Promise((r) => proc!.once("exit", r))).to.equal(0);
    });
  });
});

function readinessAfter(metrics: PrometheusMetrics, ms: number): boolean {
  return metrics.readiness(Date.now() + ms).ready;
}
