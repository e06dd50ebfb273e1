// What the worker reports about itself (docs/worker.md, "Metrics and health"). The engine calls a
// small interface; `noMetrics` is what it calls when --metrics-port is not given, so the
// production paths are the same with metrics on or off and prom-client is touched only here.
import type { JsonRpcProvider } from "ethers";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The events the worker reports. Every method is cheap and never throws. */
export interface WorkerMetrics {
  /** The latest block the worker read: its number and time (unix seconds). */
  chainHead(number: number, timestamp: number): void;
  /** The chain's current epoch. */
  currentEpoch(epoch: bigint): void;
  /** Whether this worker is committed to `epoch` (the one open for commits). */
  committed(epoch: bigint, committed: boolean): void;
  /** How many members of `epoch` other than this worker there are (it verified the epoch). */
  members(epoch: bigint, others: number): void;
  /** The newest epoch this worker is through with. */
  finished(epoch: bigint): void;
  /** A batch signed and sent (once per batch, whatever the number of receivers). */
  batchSent(): void;
  /** A batch from another member reached its epoch's inbox (before any check; counted once, however long it is held). */
  batchReceived(): void;
  /** A batch refused; `reason` is a violation kind (or `sender-ejected`). */
  batchRejected(reason: string): void;
  /** Evidence settled on-chain or refused: its fault and what became of it. */
  evidence(fault: string, outcome: string): void;
  /** Time an operator took for one call. */
  operatorTime(operator: string, seconds: number): void;
}

/** Metrics switched off. */
export const noMetrics: WorkerMetrics = {
  chainHead: () => undefined,
  currentEpoch: () => undefined,
  committed: () => undefined,
  members: () => undefined,
  finished: () => undefined,
  batchSent: () => undefined,
  batchReceived: () => undefined,
  batchRejected: () => undefined,
  evidence: () => undefined,
  operatorTime: () => undefined,
};

/** One readiness check: whether it passes and why. */
export type Check = { ok: boolean; detail: string };
/** What /readyz answers. */
export type Readiness = { ready: boolean; checks: { rpc: Check; peers: Check; committed: Check } };

/** The RPC counts as answering when it answered within this long, or three polls if longer ({@link rpcFreshMs}). */
export const RPC_FRESH_MS = 30_000;

/** How long the RPC may stay silent before /readyz fails its "rpc" check: max(30 s, 3 × --poll-ms). */
export function rpcFreshMs(pollMs: number): number {
  return Math.max(RPC_FRESH_MS, 3 * (Number.isFinite(pollMs) ? pollMs : 0));
}

/** How long /readyz waits for its own question to the RPC (eth_blockNumber) when the worker asked none lately. */
export const RPC_PROBE_MS = 5_000;

/** Whether a JSON-RPC reply (one or a batch) holds at least one result, not only errors. */
function hasResult(reply: unknown): boolean {
  return (Array.isArray(reply) ? reply : [reply]).some((r) => typeof r === "object" && r !== null && "result" in r);
}

/**
 * The worker's Prometheus metrics (prom-client, a registry of its own) and its readiness.
 * @example
 * ```ts
 * const metrics = new PrometheusMetrics({ pollMs: 1000 });
 * metrics.watchRpc(provider); // the provider the worker reads the chain through
 * metrics.watchTransport(() => transport.node.getConnections().length, () => transport.stats);
 * await startMetricsServer({ port: 9464, host: "127.0.0.1", metrics });
 * ```
 */
export class PrometheusMetrics implements WorkerMetrics {
  readonly registry = new Registry();
  /** How long the RPC may stay silent before the "rpc" readiness check fails. */
  readonly rpcFreshMs: number;
  // Undefined until measured: the gauges read NaN then, never a made-up 0.
  private head?: { number: number; timestamp: number };
  private lastAnswerAt?: number;
  private probe?: () => Promise<unknown>;
  private probing?: Promise<void>;
  private current?: bigint;
  private lastFinished?: bigint;
  private commitment?: { epoch: bigint; committed: boolean };
  private otherMembers?: number;
  private peers: () => number = () => 0;
  private transportStats: () => Record<string, number> = () => ({});
  private readonly sent: Counter;
  private readonly received: Counter;
  private readonly rejected: Counter<"reason">;
  private readonly evidenceSettled: Counter<"fault" | "outcome">;
  private readonly operatorSeconds: Histogram<"operator">;

  /** `pollMs`: the worker's --poll-ms, which sets how long the RPC may stay silent ({@link rpcFreshMs}). */
  constructor(o: { pollMs?: number } = {}) {
    this.rpcFreshMs = rpcFreshMs(o.pollMs ?? 0);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Gauges read at scrape time: ages are always current, and nothing runs between scrapes. What
    // has not been measured yet reads NaN (prom-client would otherwise export its initial 0, which
    // reads as "epoch 0" or "fresh"); Prometheus stores NaN and Grafana shows no value.
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read() ?? Number.NaN);
        },
      });
    const num = (v: bigint | undefined) => (v === undefined ? undefined : Number(v));
    gauge("maru_worker_current_epoch", "The chain's current epoch, as the worker last read it", () =>
      num(this.current),
    );
    gauge(
      "maru_worker_last_finished_epoch",
      "The newest epoch this worker is through with (finished, sat out, or not a member of)",
      () => num(this.lastFinished),
    );
    gauge(
      "maru_worker_epoch_lag",
      "The chain's current epoch minus the worker's last finished one (1 is normal: the current epoch runs)",
      () =>
        this.current === undefined || this.lastFinished === undefined
          ? undefined
          : Number(this.current - this.lastFinished),
    );
    gauge("maru_worker_committed_next_epoch", "1 when the worker is committed to the epoch open for commits", () =>
      this.commitment === undefined ? undefined : Number(this.commitment.committed),
    );
    gauge(
      "maru_worker_chain_head_age_seconds",
      "Seconds since the timestamp of the latest block the worker read",
      () => (this.head ? Math.max(0, Date.now() / 1000 - this.head.timestamp) : undefined),
    );
    gauge("maru_worker_chain_head_block", "The latest block number the worker read", () => this.head?.number);
    gauge(
      "maru_worker_rpc_last_answer_age_seconds",
      "Seconds since the RPC last answered any request of the worker with a result",
      () => (this.lastAnswerAt === undefined ? undefined : (Date.now() - this.lastAnswerAt) / 1000),
    );
    gauge("maru_worker_peers", "Connected libp2p peers", () => this.peers());
    gauge(
      "maru_worker_epoch_other_members",
      "Members of the last verified epoch other than this worker",
      () => this.otherMembers,
    );
    new Gauge({
      name: "maru_worker_transport_refused",
      help: "What the transport refused since the worker started, by kind",
      labelNames: ["kind"],
      registers,
      collect: (() => {
        const stats = () => this.transportStats();
        return function (this: Gauge<"kind">) {
          for (const [kind, n] of Object.entries(stats())) this.set({ kind }, n);
        };
      })(),
    });
    this.sent = new Counter({ name: "maru_worker_batches_sent_total", help: "Batches signed and sent", registers });
    this.received = new Counter({
      name: "maru_worker_batches_received_total",
      help: "Batches that arrived from other members, before any check",
      registers,
    });
    this.rejected = new Counter({
      name: "maru_worker_batches_rejected_total",
      help: "Batches refused, by reason (the first violation found, or sender-ejected)",
      labelNames: ["reason"],
      registers,
    });
    this.evidenceSettled = new Counter({
      name: "maru_worker_evidence_total",
      help: "Evidence submitted, by fault and outcome (slashed, already-punished, outside-window, no-fault, refused)",
      labelNames: ["fault", "outcome"],
      registers,
    });
    this.operatorSeconds = new Histogram({
      name: "maru_worker_operator_seconds",
      help: "Time of one operator call (a chunk of deltas)",
      labelNames: ["operator"],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
  }

  /**
   * Counts every JSON-RPC reply with a result that `provider` receives as the RPC answering (ethers'
   * "debug" events: the epoch loop, the dataflow, evidence, everything the worker asks through it),
   * and lets /readyz ask it `eth_blockNumber` when nothing did within {@link rpcFreshMs}.
   */
  watchRpc(provider: JsonRpcProvider): void {
    void provider.on("debug", (e: { action?: string; result?: unknown }) => {
      if (e.action === "receiveRpcResult" && hasResult(e.result)) this.rpcAnswered();
    });
    this.probe = () => provider.getBlockNumber();
  }

  /** The RPC answered a request with a result at `at` (ms). */
  rpcAnswered(at = Date.now()): void {
    this.lastAnswerAt = Math.max(at, this.lastAnswerAt ?? at);
  }

  /** Where connected peers and the transport's refusal counters are read at scrape time. */
  watchTransport(peers: () => number, stats: () => Record<string, number>): void {
    this.peers = peers;
    this.transportStats = stats;
  }

  chainHead(number: number, timestamp: number): void {
    this.head = { number, timestamp };
  }
  currentEpoch(epoch: bigint): void {
    this.current = epoch;
  }
  committed(epoch: bigint, committed: boolean): void {
    this.commitment = { epoch, committed };
  }
  members(_epoch: bigint, others: number): void {
    this.otherMembers = others;
  }
  finished(epoch: bigint): void {
    this.lastFinished = epoch;
  }
  batchSent(): void {
    this.sent.inc();
  }
  batchReceived(): void {
    this.received.inc();
  }
  batchRejected(reason: string): void {
    this.rejected.inc({ reason });
  }
  evidence(fault: string, outcome: string): void {
    this.evidenceSettled.inc({ fault, outcome });
  }
  operatorTime(operator: string, seconds: number): void {
    this.operatorSeconds.observe({ operator }, seconds);
  }

  /**
   * What /readyz answers: {@link readiness}, after asking the RPC itself (`eth_blockNumber`, at most
   * RPC_PROBE_MS) when the worker got no answer within {@link rpcFreshMs} — its loop may be busy
   * (a long graph sync) while the RPC is fine. One question at a time, however many probes ask.
   */
  async checkReadiness(): Promise<Readiness> {
    const stale = this.lastAnswerAt === undefined || Date.now() - this.lastAnswerAt > this.rpcFreshMs;
    if (stale && this.probe) {
      const probe = this.probe;
      this.probing ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            probe().then(() => this.rpcAnswered()),
            new Promise((resolve) => (timer = setTimeout(resolve, RPC_PROBE_MS))),
          ]);
        } catch {
          // No answer: the check below says how long the RPC has been silent.
        } finally {
          clearTimeout(timer);
          this.probing = undefined;
        }
      })();
      await this.probing;
    }
    return this.readiness();
  }

  /**
   * Ready when the RPC answered a request with a result within {@link rpcFreshMs}, a peer is
   * connected if the last verified epoch has other members, and the worker is committed to the
   * epoch open for commits.
   */
  readiness(now = Date.now()): Readiness {
    const age = this.lastAnswerAt === undefined ? undefined : now - this.lastAnswerAt;
    const limit = `${this.rpcFreshMs / 1000} s`;
    const rpc: Check =
      age !== undefined && age <= this.rpcFreshMs
        ? { ok: true, detail: `answered ${Math.round(age / 1000)} s ago (limit ${limit})` }
        : {
            ok: false,
            detail:
              age === undefined
                ? "the RPC has not answered yet"
                : `the RPC last answered ${Math.round(age / 1000)} s ago (more than ${limit})`,
          };
    const connected = this.peers();
    const others = this.otherMembers ?? 0;
    const peers: Check =
      others === 0 || connected > 0
        ? {
            ok: true,
            detail:
              this.otherMembers === undefined
                ? `${connected} connected, no epoch verified yet`
                : `${connected} connected, ${others} other member(s)`,
          }
        : { ok: false, detail: `no peer connected, the epoch has ${others} other member(s)` };
    const c = this.commitment;
    const committed: Check = !c
      ? { ok: false, detail: "the worker has not looked at the next epoch yet" }
      : c.committed
        ? { ok: true, detail: `committed to epoch ${c.epoch}` }
        : { ok: false, detail: `not committed to epoch ${c.epoch}` };
    return { ready: rpc.ok && peers.ok && committed.ok, checks: { rpc, peers, committed } };
  }
}
