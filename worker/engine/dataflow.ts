// The worker's dataflow across epochs (docs/protocol.md §5–§11; docs/worker.md): it starts an EpochRun
// when an epoch is verified, reads the inbox source up to the final block of each epoch's window,
// closes a run's sending when that block is final, asks peers again for what did not arrive,
// submits evidence, and closes runs. It is also the first stop of every message from the network:
// the sender a message claims must be the member behind the authenticated connection, its epoch
// must be one the worker runs (or the next one, held within a per-peer budget), and only then is it
// decoded and checked.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { Liveness } from "../chain/liveness.js";
import type { Logger } from "pino";
import type { TypedDataDomain } from "ethers";
import { getAssignment, type Assignment } from "../../client/actions/getAssignment.js";
import { EpochMath } from "../../client/batches/verifyBatch.js";
import type { Protocol } from "../../client/contracts.js";
import { protocolDomain } from "../../client/math/eip712.js";
import { syncGraph, type SyncGraphReturnType } from "../../client/registry/syncGraph.js";
import type { Evidence } from "../../client/evidence/buildEvidence.js";
import { submitEvidence } from "../../client/evidence/submitEvidence.js";
import { OperatorHost } from "../operators/host.js";
import type { Outbox, OutboxOptions } from "../exchange/outbox.js";
import type { ExchangeSigner } from "../exchange/signer.js";
import { EvidenceDesk } from "../guard/evidence.js";
import { DisputeOpener } from "../disputes/opener.js";
import type { ExecutionDisputes } from "../../typechain-types/index.js";
import type { ProtectionRecord } from "../protection/record.js";
import { finalizedBlock, type Finality } from "../chain/finality.js";
import { openSource, type SourceDelta, type SourceReader } from "../chain/source.js";
import type { Membership } from "../chain/members.js";
import { decodeMessage, peekMessage, type Message, type ResendRequest } from "../transport/codec.js";
import { GraphUnsupportedError, compileGraph, isFirstStage, sourcesKey, type RunnableGraph } from "./graph.js";
import { EpochRun, type HandoffState, type PreviousEpoch } from "./epochRun.js";
import { WaitLog } from "../node/waits.js";
import type { CheatRecord, EpochReport } from "./report.js";
import { noMetrics, type WorkerMetrics } from "../metrics/metrics.js";

/** Messages held for the next epoch (it has not started here yet), per peer at most. */
export const EARLY_LIMITS = { messages: 20_000, bytes: 32 * 1024 * 1024 };
/** A peer's resend requests for one epoch are answered at most once in this many ms. */
export const RESEND_INTERVAL_MS = 2_000;
/** Blocks a source read takes at once (then processes, then reads on): bounds the logs held in memory. */
export const READ_BLOCKS = 8;
/** How long a tick reads source blocks before it looks at the open epochs again (then reads on). */
export const READ_TURN_MS = 1_000;
/** Finished epochs whose sent batches are kept to answer resend requests (and how far back a restart resumes). */
export const RETAINED_EPOCHS = 2;

export type DataflowOptions = {
  p: Protocol;
  me: string;
  chainId: number;
  signer: ExchangeSigner;
  record: ProtectionRecord;
  /** The epoch that was current when this process opened its protection record. */
  currentAtStart: bigint;
  membership: Membership;
  /** Sends a message to a member (by address); failures are the transport's to log. */
  send(member: string, m: Message): void;
  outbox(o: OutboxOptions): Outbox;
  log: Logger;
  gateway: string;
  cacheDir?: string;
  /**
   * Where the state each epoch hands to the next is written before any of it is signed (a restart
   * sends the same); omitted: kept in memory only.
   */
  stateDir?: string;
  /** Run verifyBatch and verifyAccumulatedProof on what arrives (off only to measure their cost). */
  checks: boolean;
  finality: Finality;
  /** How long to wait for other workers' batches after this worker finished an epoch. */
  graceMs: number;
  perDeltaMs: number;
  /** What the worker reports (noMetrics when --metrics-port is not given). */
  metrics?: WorkerMetrics;
  /** The execution-dispute court: where conflicting replicas' signed headers go (none: not opened). */
  court?: ExecutionDisputes;
};

/** Why a message was not taken: the transport counts these against the peer. */
export type Refusal = { reason: string; abusive: boolean };

/**
 * @example
 * ```ts
 * const df = new Dataflow(options);
 * transport.onMessage = (bytes, peer) => df.onWire(bytes, peer);
 * await df.startEpoch(epoch, assignment); // once its r is verified
 * await df.tick(current);                 // on every poll
 * ```
 */
export class Dataflow {
  readonly runs = new Map<bigint, EpochRun>();
  readonly reports: EpochReport[] = [];
  readonly cheats: CheatRecord[] = [];
  readonly desk: EvidenceDesk;
  /** Opens execution disputes on the conflicts the replica agreement finds (§12). */
  readonly opener?: DisputeOpener;
  readonly domain: TypedDataDomain;
  /** The newest epoch this worker is through with (finished, sat out, or not a member of). */
  lastFinished = 0n;
  private current = 0n;
  /** When this worker last answered a resend request (it lingers while peers still catch up). */
  lastServedAt = 0;
  private readonly retained = new Map<bigint, Outbox>();
  /** Finished epochs' inboxes, kept as long as their outboxes, to judge accumulated proofs that come late. */
  private readonly lateProofs = new Map<
    bigint,
    { inbox: EpochRun["inbox"]; windowEnd?: number; members: ReadonlyMap<string, number> }
  >();
  private readonly early = new Map<bigint, Array<{ bytes: Uint8Array; peer: string }>>();
  private readonly earlyUse = new Map<string, { messages: number; bytes: number }>();
  /** When each peer's resend request was last answered, by epoch. */
  private readonly resendServed = new Map<bigint, Map<string, number>>();
  /** A request that came within RESEND_INTERVAL_MS of the last one answered: the newest, answered then. */
  private readonly resendDeferred = new Map<string, { request: ResendRequest; timer: NodeJS.Timeout }>();
  private readonly waits: WaitLog;
  private readonly advancedAt = new Map<bigint, number>();
  /** Per slashed worker: from the fault's epoch up to the last epoch of its jail (read from the chain). */
  /** Who is a live holder of each epoch, from EpochFrozen, MemberDeparted and Slashed events. */
  private readonly liveness = new Liveness();
  private readonly graphs = new Map<string, RunnableGraph>();
  private eventsTo: number;
  private source?: SourceReader;
  /** The state of a finished epoch (by that epoch) not yet handed to the next one's run. */
  private readonly handoffs = new Map<bigint, HandoffState>();

  private readonly metrics: WorkerMetrics;

  constructor(readonly o: DataflowOptions) {
    this.metrics = o.metrics ?? noMetrics;
    this.eventsTo = o.p.book.startBlock - 1;
    this.domain = protocolDomain(o.chainId, o.p.book.contracts.fraudProofs);
    this.waits = new WaitLog(o.log, 10_000);
    this.desk = new EvidenceDesk(
      (e) => submitEvidence(o.p.fraud as never, e, [o.p.epochs.interface]),
      o.log,
      this.metrics,
    );
    if (o.court) this.opener = new DisputeOpener(o.p, o.court, this.domain, o.log, o.me);
  }

  get log() {
    return this.o.log;
  }

  /** Not a live holder of `epoch` (EpochManager.isEjected, docs/protocol.md §10): nobody routes to it. */
  isEjected(epoch: bigint, worker: string): boolean {
    return this.liveness.isEjected(epoch, worker);
  }

  private isMember(epoch: bigint, worker: string): boolean {
    const run = this.runs.get(epoch);
    return run ? run.a.view.indexOf.has(worker) : true;
  }

  /**
   * A message from the network, from the member `member` (the authenticated peer's worker).
   * Returns a refusal when it is not taken; cheap checks come before any decoding.
   */
  onWire(bytes: Uint8Array, member: string): Refusal | undefined {
    let head;
    try {
      head = peekMessage(bytes);
    } catch (e) {
      return { reason: (e as Error).message, abusive: true };
    }
    if (head.sender !== member)
      return { reason: `claims to be ${head.sender}, the connection is ${member}`, abusive: true };
    if (head.kind === "request") return this.onRequest(bytes, member, head.epoch);
    const run = this.runs.get(head.epoch);
    if (run) {
      if (!this.isMember(head.epoch, member)) return { reason: `not a member of epoch ${head.epoch}`, abusive: true };
      let m: Message;
      try {
        m = decodeMessage(bytes);
      } catch (e) {
        return { reason: (e as Error).message, abusive: true };
      }
      if (m.kind === "batch") {
        this.metrics.batchReceived();
        if (run.inbox.onBatch(m.batch) === "abusive")
          return { reason: "a batch not signed by its sender's key", abusive: true };
      } else if (m.kind === "proof") run.inbox.onProof(m.proof);
      else if (m.kind === "done") {
        if (!run.inbox.onDone(m.done))
          return { reason: "an end notice not signed by its sender for this worker", abusive: true };
      }
      return undefined;
    }
    const late = this.lateProofs.get(head.epoch);
    if (late && head.kind === "proof") {
      // A proof that came after the epoch closed here (its sender was slow): still judged.
      if (!late.members.has(member)) return { reason: `not a member of epoch ${head.epoch}`, abusive: true };
      let m: Message;
      try {
        m = decodeMessage(bytes);
      } catch (e) {
        return { reason: (e as Error).message, abusive: true };
      }
      if (m.kind === "proof") late.inbox.onProof(m.proof);
      return undefined;
    }
    if (head.epoch <= this.lastFinished || head.epoch < this.current)
      return { reason: `epoch ${head.epoch} is over here`, abusive: false };
    if (head.epoch > this.current + 1n)
      return { reason: `epoch ${head.epoch} is too far ahead (current ${this.current})`, abusive: true };
    // The current or next epoch, not started here yet: held, within the peer's budget.
    const use = this.earlyUse.get(member) ?? { messages: 0, bytes: 0 };
    // Over budget is dropped, not held against the peer: an honest one may simply be ahead of a
    // worker still syncing the epoch's graph (it resends what is asked for).
    if (use.messages + 1 > EARLY_LIMITS.messages || use.bytes + bytes.length > EARLY_LIMITS.bytes)
      return { reason: `more than ${EARLY_LIMITS.bytes} bytes held for an epoch not started`, abusive: false };
    use.messages += 1;
    use.bytes += bytes.length;
    this.earlyUse.set(member, use);
    const held = this.early.get(head.epoch) ?? [];
    held.push({ bytes, peer: member });
    this.early.set(head.epoch, held);
    return undefined;
  }

  /**
   * A resend request: answered from the epoch's outbox, at most once per peer and epoch every
   * RESEND_INTERVAL_MS. One that comes sooner is kept (only the newest) and answered when the
   * interval is over: an honest peer's requests bunch up behind a stalled stream, and refusing
   * them left it without what it asked for, so it reported this worker as withholding. Garbage is
   * refused as abuse at once, deferred or not.
   */
  private onRequest(bytes: Uint8Array, member: string, epoch: bigint): Refusal | undefined {
    if (!this.outboxOf(epoch)) return { reason: `no epoch ${epoch} to resend`, abusive: false };
    let m: Message;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      return { reason: (e as Error).message, abusive: true };
    }
    if (m.kind !== "request") return { reason: "not a request", abusive: true };
    const key = `${member}|${epoch}`;
    const wait = RESEND_INTERVAL_MS - (Date.now() - (this.resendServed.get(epoch)?.get(member) ?? 0));
    if (wait <= 0) return this.serveResend(m.request, member, epoch);
    const deferred = this.resendDeferred.get(key);
    if (deferred) deferred.request = m.request;
    else {
      const timer = setTimeout(() => {
        const d = this.resendDeferred.get(key);
        this.resendDeferred.delete(key);
        if (d) this.serveResend(d.request, member, epoch);
      }, wait);
      timer.unref();
      this.resendDeferred.set(key, { request: m.request, timer });
    }
    return undefined;
  }

  /** The outbox of an epoch running here or finished and kept, to answer resend requests from. */
  private outboxOf(epoch: bigint): Outbox | undefined {
    return this.runs.get(epoch)?.outbox ?? this.retained.get(epoch);
  }

  private serveResend(request: ResendRequest, member: string, epoch: bigint): undefined {
    const outbox = this.outboxOf(epoch);
    if (!outbox) return; // the epoch was dropped meanwhile: the peer is told nothing more
    let served = this.resendServed.get(epoch);
    if (!served) this.resendServed.set(epoch, (served = new Map()));
    served.set(member, Date.now());
    this.lastServedAt = Date.now();
    outbox.resend(request, member).then(
      (n) => {
        const run = this.runs.get(epoch);
        if (run) run.stats.resendsServed += n;
        this.log.info({ epoch: epoch.toString(), to: member, batches: n }, "resent on request");
      },
      (e: Error) => this.log.warn({ epoch: epoch.toString(), to: member, error: e.message }, "resend failed"),
    );
  }

  private releaseEarly(epoch: bigint): Array<{ bytes: Uint8Array; peer: string }> {
    const held = this.early.get(epoch) ?? [];
    this.early.delete(epoch);
    for (const h of held) {
      const use = this.earlyUse.get(h.peer);
      if (use) {
        use.messages -= 1;
        use.bytes -= h.bytes.length;
      }
    }
    return held;
  }

  /**
   * Starts epoch `epoch` (its r verified): syncs and checks its graph, starts its operators.
   * Returns false when it cannot start yet (the block that began the epoch is not final): call
   * it again on the next poll.
   */
  async startEpoch(epoch: bigint, a: Assignment): Promise<boolean> {
    if (this.runs.has(epoch) || epoch <= this.lastFinished) return true;
    if (a.index === undefined) {
      this.log.info({ epoch: epoch.toString() }, "not a member of the epoch");
      return this.skip(epoch);
    }
    const resumed = this.o.record.hasEpoch(epoch);
    const newest = this.o.record.epochs().at(-1);
    if (!resumed && epoch <= this.o.currentAtStart && (newest === undefined || newest < epoch - 1n)) {
      // The epoch began before this process started, and the record was not in use up to it (a
      // new or lost record, or an old backup): an earlier process, here or on another machine,
      // may have signed in it. Signing now could contradict that. (A record in use up to the
      // previous epoch proves the earlier process had not begun this one: it records an epoch
      // before it signs anything in it.)
      this.log.warn(
        { epoch: epoch.toString() },
        "sitting the epoch out: it began before this process started and the protection record was not in use up to it (a new or lost record, an old backup, or another machine); this worker signs nothing in it",
      );
      return this.skip(epoch);
    }
    await this.refreshEvents();
    const from = this.advancedAt.get(epoch);
    if (from === undefined) return false; // the block that began it is not final yet
    const info = await this.o.p.epochs.epochInfo(epoch);
    const refusal = this.refusedGraphs.get(info.graphHash);
    if (refusal) return this.sitOutGraph(epoch, info.graphHash, refusal);
    let graph = this.graphs.get(info.graphHash);
    if (!graph) {
      const synced = await this.syncEpochGraph(epoch);
      if (!synced.operators.some((x) => x && x.status === "ACTIVE")) {
        // Nothing registered yet: follow the epochs, run nothing.
        this.log.info(
          { epoch: epoch.toString(), graphVersion: synced.version.toString() },
          "the epoch's graph has no operators",
        );
        return this.skip(epoch);
      }
      try {
        graph = compileGraph(synced, BigInt(this.o.chainId));
      } catch (e) {
        if (!(e instanceof GraphUnsupportedError)) throw e;
        this.refusedGraphs.set(info.graphHash, e);
        return this.sitOutGraph(epoch, info.graphHash, e);
      }
      this.graphs.set(info.graphHash, graph);
      this.log.info(
        { epoch: epoch.toString(), graphHash: graph.graphHash, operators: graph.operators.map((x) => x.name) },
        "graph synced",
      );
    }
    if (this.source && this.source.streams !== sourcesKey(graph)) {
      // The epoch's graph reads other source streams. Every block before its window belongs to
      // earlier epochs and the old streams: switch only once they are all read, so that this
      // worker's inputs are the epoch's own streams, as every other holder's and every juror's are.
      const reading = [...this.runs.values()].some(
        (r) => r.windowEnd === undefined || this.source!.readTo < r.windowEnd,
      );
      if (reading) {
        this.waits.say(`epoch ${epoch}`, "the epochs before it to finish reading the old source streams");
        return false;
      }
      this.log.info(
        { epoch: epoch.toString(), from: this.source.streams, to: sourcesKey(graph) },
        "the source streams changed",
      );
      this.source = undefined;
    }
    if (!this.source) this.source = await openSource(this.o.p, graph, from);
    const previous = await this.previousEpoch(epoch, info.graphHash, graph);
    // Operators last: nothing that can fail (an RPC call) comes between starting their threads and the run that closes them.
    // First-stage operators start in the run, one instance per source shard it holds.
    const hosts = new Map<string, OperatorHost>();
    try {
      for (const op of graph.operators)
        if (!isFirstStage(graph, op))
          hosts.set(String(op.id), await OperatorHost.start(op.bytecode, { perDeltaMs: this.o.perDeltaMs }));
    } catch (e) {
      // Those started are closed: their instances would stay in the shared thread for good.
      for (const h of hosts.values()) await h.close();
      throw e;
    }
    if (!resumed) this.o.record.beginEpoch(epoch);
    const run = new EpochRun(
      {
        me: this.o.me,
        log: this.log,
        domain: this.domain,
        checks: this.o.checks,
        perDeltaMs: this.o.perDeltaMs,
        sourceChainId: BigInt(this.o.chainId),
        signer: this.o.signer,
        outbox: this.o.outbox,
        isEjected: (e, w) => this.isEjected(e, w),
        send: (to, m) => this.o.send(to, m),
        evidence: (e, w, ev) => this.queueEvidence(e, w, ev),
        dispute: (e, w, x, y) => this.opener?.queue(e, w, x, y),
        metrics: this.metrics,
      },
      epoch,
      a,
      graph,
      hosts,
      resumed,
      previous,
    );
    this.runs.set(epoch, run);
    if (previous) this.handOver(run);
    this.log.info(
      { epoch: epoch.toString(), fromBlock: from, shards: a.shards, resumed },
      resumed ? "dataflow resumed (replaying the epoch)" : "dataflow started",
    );
    for (const h of this.releaseEarly(epoch)) this.onWire(h.bytes, h.peer);
    return true;
  }

  /**
   * The epoch whose state `epoch` takes over: the one before it, when it ran the same graph and the
   * graph has stateful operators (docs/protocol.md §9).
   */
  private async previousEpoch(
    epoch: bigint,
    graphHash: string,
    graph: RunnableGraph,
  ): Promise<PreviousEpoch | undefined> {
    if (graph.handoffs.size === 0 || epoch <= 1n) return undefined;
    const before = await this.o.p.epochs.epochInfo(epoch - 1n);
    if (before.graphHash.toLowerCase() !== graphHash.toLowerCase()) return undefined;
    const a = await getAssignment(this.o.p, epoch - 1n);
    if (a.view.n === 0) return undefined;
    return { a, math: new EpochMath(a.view) };
  }

  /**
   * Hands this worker's state of the epoch before `run`'s to it, once: at once when it is known (in
   * memory, or written before a restart), or when that epoch finishes here (sending waits for it).
   */
  private handOver(run: EpochRun): void {
    run.handoffPending = false;
    if (!run.handoffDue || run.handoffTaken) return;
    const before = run.epoch - 1n;
    const state = this.handoffs.get(before) ?? this.readHandoff(before);
    if (!state || state.graphHash.toLowerCase() !== run.graphHash.toLowerCase()) {
      // Not known yet: it is when the epoch before finishes here (nothing to wait for otherwise).
      run.handoffPending = this.runs.has(before);
      return;
    }
    try {
      run.sendHandoff(state);
      this.log.info(
        { epoch: run.epoch.toString(), from: before.toString(), deltas: run.handoffStats.sentDeltas },
        "state of the previous epoch handed over",
      );
    } catch (e) {
      // Nothing of it went out: its receivers see this worker's channels missing.
      this.log.error(
        { epoch: run.epoch.toString(), from: before.toString(), error: (e as Error).message },
        "cannot hand the previous epoch's state over",
      );
    }
  }

  private handoffFile(epoch: bigint): string | undefined {
    return this.o.stateDir === undefined ? undefined : join(this.o.stateDir, `handoff-${epoch}.json`);
  }

  private readHandoff(epoch: bigint): HandoffState | undefined {
    const file = this.handoffFile(epoch);
    if (!file || !existsSync(file)) return undefined;
    try {
      const state = JSON.parse(readFileSync(file, "utf8")) as HandoffState;
      if (state.epoch !== epoch.toString()) throw new Error(`it holds epoch ${state.epoch}`);
      return state;
    } catch (e) {
      // Never send a guess: the next epoch's holders see this worker's channels missing.
      this.log.error({ epoch: epoch.toString(), file, error: (e as Error).message }, "cannot read a handed-over state");
      return undefined;
    }
  }

  /**
   * Keeps the state a finished epoch hands over, written before anything of it is signed. A state
   * written by an earlier process (this epoch ran again after a restart) is kept as it was: it is
   * what may have been signed already.
   */
  private keepHandoff(run: EpochRun, report: EpochReport): void {
    const next = this.runs.get(run.epoch + 1n);
    const file = this.handoffFile(run.epoch);
    let state = this.readHandoff(run.epoch);
    if (!state) {
      state = run.handoffOut();
      if (state && file) {
        mkdirSync(this.o.stateDir!, { recursive: true });
        // Durable before anything of it is signed: file, then the rename in its directory.
        const fd = openSync(`${file}.tmp`, "w");
        try {
          writeSync(fd, JSON.stringify(state));
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(`${file}.tmp`, file);
        const dir = openSync(this.o.stateDir!, "r");
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
        for (const name of readdirSync(this.o.stateDir!)) {
          const m = /^handoff-(\d+)\.json$/.exec(name);
          if (m && BigInt(m[1]) <= run.epoch - BigInt(RETAINED_EPOCHS))
            rmSync(join(this.o.stateDir!, name), { force: true });
        }
      }
    }
    if (!state) {
      if (report.handoff)
        this.log.warn(
          { epoch: run.epoch.toString() },
          "this worker cannot vouch for its state of the epoch: it hands nothing over (the next epoch's output says so)",
        );
      if (next) next.handoffPending = false;
      return;
    }
    this.handoffs.set(run.epoch, state);
    for (const e of this.handoffs.keys()) if (e < run.epoch) this.handoffs.delete(e);
    if (next) this.handOver(next);
  }

  /** The graph pinned to `epoch`, its blobs fetched (or taken from the cache) and checked. */
  private syncEpochGraph(epoch: bigint): Promise<SyncGraphReturnType> {
    return syncGraph({
      provider: this.o.p.epochs.runner!.provider!,
      epochManager: this.o.p.book.contracts.epochManager,
      registry: this.o.p.book.contracts.registry,
      epoch,
      gateway: this.o.gateway,
      cacheDir: this.o.cacheDir,
      fromBlock: this.o.p.book.startBlock,
    });
  }

  /**
   * Sits out an epoch whose graph this worker cannot run. The graph pinned to an epoch never
   * changes, so waiting would stall the worker on it for good; sitting out signs nothing, which is
   * never slashable, and a later epoch with a graph it can run starts as usual.
   */
  private sitOutGraph(epoch: bigint, graphHash: string, e: GraphUnsupportedError): true {
    this.log.error(
      { epoch: epoch.toString(), graphHash, reason: e.shortMessage, fix: e.fix },
      "the epoch's graph is one this worker cannot run: sitting the epoch out (it signs nothing in it)",
    );
    return this.skip(epoch);
  }
  /** Graphs (by hash) this worker cannot run, with why. */
  private readonly refusedGraphs = new Map<string, GraphUnsupportedError>();

  /** Takes no part in `epoch` (not a member, nothing to run, sat out, or not verifiable): drops what was held for it. */
  skip(epoch: bigint): true {
    if (epoch > this.lastFinished) this.lastFinished = epoch;
    this.releaseEarly(epoch);
    return true;
  }

  /** The chain's current epoch: messages for it and the next one are held until their run starts. */
  follow(current: bigint): void {
    this.current = current;
  }

  /** Queues evidence against a member (the guard submits it on the next tick). */
  queueEvidence(epoch: bigint, worker: string, evidence: Evidence): void {
    this.desk.queue(epoch, worker, evidence);
  }

  /**
   * Follows EpochAdvanced and Slashed events in final blocks only: an epoch's window (the blocks
   * between two advances) is fixed before anything is signed about it, so a reorg cannot move a
   * window under a proof that names its last block. Returns the final block.
   */
  private async refreshEvents(): Promise<number> {
    const provider = this.o.p.epochs.runner!.provider!;
    const head = await provider.getBlockNumber();
    const final = await finalizedBlock(provider, this.o.finality, head);
    if (final > this.eventsTo) {
      const em = this.o.p.epochs;
      for (const e of await em.queryFilter(em.filters.EpochAdvanced(), this.eventsTo + 1, final))
        this.advancedAt.set(e.args.epoch as bigint, e.blockNumber);
      for (const e of await em.queryFilter(em.filters.EpochFrozen(), this.eventsTo + 1, final))
        this.liveness.frozen(e.args.epoch as bigint, BigInt(e.args.assignmentEpoch));
      for (const e of await em.queryFilter(em.filters.MemberDeparted(), this.eventsTo + 1, final))
        this.liveness.departed(e.args.worker as string, e.args.epoch as bigint);
      for (const e of await em.queryFilter(em.filters.Slashed(), this.eventsTo + 1, final)) {
        const jailedUntil = BigInt(e.args.jailedUntil);
        this.liveness.slashed(e.args.worker as string, e.args.epoch as bigint, jailedUntil);
        this.log.info(
          {
            worker: (e.args.worker as string).toLowerCase(),
            epoch: String(e.args.epoch),
            jailedUntil: String(jailedUntil),
          },
          "ejected",
        );
      }
      this.eventsTo = final;
    }
    return final;
  }

  private epochOfBlock(block: number): bigint | undefined {
    let best: bigint | undefined;
    for (const [e, at] of this.advancedAt) if (at <= block && (best === undefined || e > best)) best = e;
    return best;
  }

  /**
   * One poll: reads final source blocks, runs them through the operators, sends complete batches,
   * closes each epoch's sending once its window's last block is final, judges proofs, asks again
   * for what did not arrive, submits evidence, and closes epochs.
   */
  async tick(current: bigint): Promise<void> {
    this.follow(current);
    await this.o.membership.refresh(current);
    const finalized = await this.refreshEvents();
    for (const run of this.runs.values()) {
      const next = this.advancedAt.get(run.epoch + 1n);
      if (next !== undefined) run.windowEnd = next - 1;
    }
    // Reading the source and moving the open epochs along take turns: a burst of final blocks (a
    // whole epoch's logs) is read READ_TURN_MS at a time, so an earlier epoch's end (its last
    // batches, its second exchange, its close and the state it hands on) never waits behind the
    // next epoch's logs, and epochs do not pile up in memory.
    for (;;) {
      const more = await this.readSource(finalized, Date.now() + READ_TURN_MS);
      await this.advanceRuns(finalized);
      if (!more) break;
    }
  }

  /**
   * Reads final source blocks into the open epochs, no further than the final block nor past the
   * newest started epoch's window, until `until` (a time): true if there is more to read.
   */
  private async readSource(finalized: number, until: number): Promise<boolean> {
    if (!this.source || this.runs.size === 0) return false;
    const newest = [...this.runs.values()].reduce((x, y) => (y.epoch > x.epoch ? y : x));
    const target = Math.min(finalized, newest.windowEnd ?? Infinity);
    // A chunk of blocks at a time: a worker far behind (a restart, a burst of logs) holds one
    // chunk's logs and receipts in memory, not all of them.
    while (target > this.source.readTo) {
      if (Date.now() >= until) return true;
      const read = await this.source.read(Math.min(target, this.source.readTo + READ_BLOCKS));
      const byEpoch = new Map<bigint, SourceDelta[]>();
      let block = -1;
      let epoch: bigint | undefined;
      for (const d of read.deltas) {
        if (d.blockNumber !== block) [block, epoch] = [d.blockNumber, this.epochOfBlock(d.blockNumber)];
        if (epoch === undefined) continue;
        const list = byEpoch.get(epoch) ?? [];
        if (list.length === 0) byEpoch.set(epoch, list);
        list.push(d);
      }
      for (const [e, ds] of byEpoch) await this.runs.get(e)?.processSource(ds);
      // Only once processed: a failure above reads the same blocks again on the next tick.
      read.commit();
    }
    return false;
  }

  /**
   * Moves each open epoch along: closes its sending once its window's last block is read, judges
   * proofs, asks again for what did not arrive, starts a second exchange, submits evidence, and
   * closes the epochs that are complete (or whose grace is over).
   */
  private async advanceRuns(finalized: number): Promise<void> {
    const provider = this.o.p.epochs.runner!.provider!;
    const canonicalHash = async (n: bigint) => (await provider.getBlock(Number(n)))?.hash ?? undefined;
    const runs = [...this.runs.values()].sort((x, y) => (x.epoch < y.epoch ? -1 : 1));
    for (const run of runs) {
      this.sayWhatItWaitsFor(run, finalized);
      if (
        !run.sendingDone &&
        !run.handoffPending &&
        run.windowEnd !== undefined &&
        this.source &&
        this.source.readTo >= run.windowEnd
      ) {
        const blockHash = (await provider.getBlock(run.windowEnd))!.hash!;
        await run.finishSending(run.windowEnd, blockHash);
      } else if (!run.sendingDone) {
        await run.outbox.flush();
      }
      const graceOver = run.sendingDone && Date.now() - run.sendingDoneAt > this.o.graceMs;
      // Proofs of a second exchange wait for their batches with that exchange's grace.
      const proofGraceOver = run.secondStageStarted
        ? run.secondStageDone && Date.now() - run.secondStageDoneAt > this.o.graceMs
        : graceOver;
      if (run.resumed && !run.sendingDone) this.askAgain(run);
      await run.inbox.judgeProofs(run.windowEnd, finalized, canonicalHash, proofGraceOver);
      if (run.sendingDone) this.askAgain(run);
      run.settle();
      // A graph's second exchange starts here once the first is complete (or its grace is over).
      if (run.secondStage && run.sendingDone && !run.secondStageStarted) {
        const complete = run.inbox.complete(1);
        if (complete || graceOver) await run.startSecondStage(!complete);
      }
    }
    for (const { inbox, windowEnd } of this.lateProofs.values())
      await inbox.judgeProofs(windowEnd, finalized, canonicalHash, true);
    await this.desk.drain();
    await this.opener?.drain();
    for (const run of runs) {
      const complete = run.inbox.complete(1) && (!run.secondStage || run.inbox.complete(2));
      // The grace runs from this worker's end of its last exchange.
      const [sent, sentAt] = run.secondStage
        ? [run.secondStageDone, run.secondStageDoneAt]
        : [run.sendingDone, run.sendingDoneAt];
      if (sent && (complete || Date.now() - sentAt > this.o.graceMs)) {
        const report = await run.finalize(!complete);
        this.reports.push(report);
        this.runs.delete(run.epoch);
        this.keepHandoff(run, report);
        run.release();
        this.waits.forget(`epoch ${run.epoch}`);
        this.retained.set(run.epoch, run.outbox);
        this.lateProofs.set(run.epoch, { inbox: run.inbox, windowEnd: run.windowEnd, members: run.a.view.indexOf });
        // What is kept of finished epochs goes together (requests for a dropped epoch are refused
        // before resendServed is read).
        const dropped = run.epoch - BigInt(RETAINED_EPOCHS);
        for (const kept of [this.retained, this.lateProofs, this.resendServed])
          for (const e of kept.keys()) if (e <= dropped) kept.delete(e);
        if (run.epoch > this.lastFinished) this.lastFinished = run.epoch;
        this.log.info({ ...report, output: undefined }, "epoch finished");
      }
    }
  }

  /** Says at info level what an open epoch waits for (again every 10 s while it holds). */
  private sayWhatItWaitsFor(run: EpochRun, finalized: number): void {
    let waitingFor: string;
    if (run.windowEnd === undefined) waitingFor = `the next epoch to begin (its window is still open)`;
    else if (!run.sendingDone && run.handoffPending)
      waitingFor = `epoch ${run.epoch - 1n} to finish here: its state is handed over first`;
    else if (!run.sendingDone) {
      if (run.windowEnd <= finalized) return; // final: it finishes sending on this tick
      waitingFor = `block ${run.windowEnd}, the window's last, to be final (final: ${finalized})`;
    } else {
      const stage = run.secondStageStarted ? 2 : 1;
      const missing = run.inbox.missing(stage);
      if (missing.length === 0) return;
      waitingFor = `${missing.length} member(s) to finish sending${stage === 2 ? " the second exchange" : ""}: ${missing
        .map((m) => `${m.member} (${m.noticed ? "batches announced but missing" : "no end notice yet"})`)
        .join(", ")}`;
    }
    this.waits.say(`epoch ${run.epoch}`, waitingFor, { epoch: run.epoch.toString() });
  }

  /**
   * After this worker's own end of an epoch, asks members for what has not arrived: batches a
   * signed end notice announced (lost on the way), or everything from a member whose notice has
   * not come 5 s later (this worker restarted, or the member's messages were lost).
   */
  private askAgain(run: EpochRun): void {
    const now = Date.now();
    if (now - run.lastResendAsk < 3_000) return;
    const wanted = new Map<string, Array<{ stream: string; shard: number; originShard: number; fromSeq: bigint }>>();
    const collect = (missing: ReturnType<EpochRun["inbox"]["missing"]>, since: number) => {
      // A resumed run lost what arrived before the restart: it asks at once, and everyone.
      if (!run.resumed && now - since < 2_000) return;
      const late = run.resumed || now - since > 5_000;
      for (const m of missing) {
        if (!m.noticed && !late) continue;
        wanted.set(m.member, [...(wanted.get(m.member) ?? []), ...m.channels]);
      }
    };
    collect(run.inbox.missing(1), run.sendingDoneAt);
    if (run.secondStageDone) collect(run.inbox.missing(2), run.secondStageDoneAt);
    for (const [member, missing] of wanted) {
      // A sender resends a channel the request does not name from its start: name every channel
      // this worker has from the member, at the seq it needs next.
      const channels = new Map(run.inbox.positions(member).map((c) => [`${c.stream}|${c.originShard}|${c.shard}`, c]));
      for (const c of missing) channels.set(`${c.stream.toLowerCase()}|${c.originShard}|${c.shard}`, c);
      this.o.send(member, {
        kind: "request",
        request: { epoch: run.epoch, sender: this.o.me, channels: [...channels.values()] },
      });
    }
    if (wanted.size > 0) {
      run.lastResendAsk = now;
      run.stats.resendsAsked += wanted.size;
      this.log.info(
        { epoch: run.epoch.toString(), members: wanted.size },
        "asked members to resend what has not arrived",
      );
    }
  }

  /** Finishes what can be finished on shutdown: open epochs are reported as they are. */
  async stop(): Promise<void> {
    for (const d of this.resendDeferred.values()) clearTimeout(d.timer);
    this.resendDeferred.clear();
    for (const run of this.runs.values()) this.reports.push(await run.finalize(true, !run.sendingDone));
    this.runs.clear();
  }
}
