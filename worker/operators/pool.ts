// The threads operator instances run in (docs/operators.md, "Threads"). A Node worker thread costs
// about 10 MiB however little it does, and a worker process runs an instance of every first-stage
// operator for every source shard it holds, and one of every later operator: one thread each took
// 60 MiB of a 300 MiB budget. So every instance of a process runs in one shared thread, one request
// at a time, except the ones that must not share: an instance restarted after failing itself, a
// replay for a dispute and a juror's recomputation get a thread of their own, so that an operator
// that loops twice cannot take the others down with it twice.
import { Worker } from "node:worker_threads";

/** The clock's slots (BigInt64), written by the thread: the request taken and when, the last answered and when. */
const TAKEN = 0;
const TAKEN_AT = 1;
const ANSWERED = 2;
const ANSWERED_AT = 3;
const SLOTS = 4;

/**
 * The thread's JS heap: only the glue runs there (the modules' memories are outside it, bounded by
 * the caps), so a small heap is plenty and stops a bug in the glue from taking the worker's memory.
 */
const THREAD_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 };
/**
 * How long a request may wait for an idle thread to take it: the thread takes requests in order, so
 * one that waits behind another's run waits as long as that run (which its own budget bounds);
 * only a starved machine (or a thread that does not start) makes an idle thread wait.
 */
const TAKE_BUDGET_MS = 30_000;
/** Milliseconds on the steady clock every thread of the process shares (a step of the wall clock does not move it). */
const monotonicMs = () => Number(process.hrtime.bigint() / 1_000_000n);

/** How a request ended without an answer: its budget ran out, the thread died, or the thread said it failed. */
export type Failure = { error: string; kind: "timeout" | "lost" | "failed" };

/** An answer: to a start (`ready`), or to a run (`packed`, see host.ts unpackOutputs). */
export type ThreadReply = { id: number; ready?: boolean; packed?: unknown };
/** What the thread posts: an answer, or `error` when the request failed there. */
type Posted = ThreadReply & { error?: string };

/**
 * One operator thread. Requests are taken in the order they were sent; each has a budget of the
 * thread's own time from when it took it (a shared clock), so a busy main thread that reads its
 * timer late does not blame the operator, and a request queued behind another waits for it.
 */
export class OperatorThread {
  private static sharedThread?: OperatorThread;
  /** Threads running now (the tests read it). */
  static live = 0;

  private readonly worker: Worker;
  private readonly clock = new BigInt64Array(new SharedArrayBuffer(SLOTS * 8)).fill(-1n);
  private readonly waiting = new Map<number, (r: Posted | Failure) => void>();
  private nextId = 0;
  private nextInstance = 0;
  private users = 0;
  /** Why the thread stopped: every request in flight and every later one fails with it. */
  dead?: string;

  private constructor(caps: { maxOutputRecords: number; maxOutputBytes: number }) {
    this.worker = new Worker(new URL("./thread.mjs", import.meta.url), {
      workerData: { ...caps, clock: this.clock },
      resourceLimits: THREAD_LIMITS,
      // The thread is plain JavaScript: the worker's own flags (a TypeScript loader, a profiler)
      // would cost it 7 MiB more and load what it never uses.
      execArgv: [],
    });
    OperatorThread.live += 1;
    this.worker.on("message", (m: Posted) => this.waiting.get(m?.id)?.(m));
    // A thread over its heap limit ends with an 'error' event: unheard, it would be thrown in the
    // worker's process. Either way every instance in it is lost, and the requests in flight fail.
    this.worker.on("error", (e: Error) => this.lost(`its thread failed: ${e.message}`));
    this.worker.on("exit", (code: number) => {
      OperatorThread.live -= 1;
      this.lost(`its thread exited (code ${code})`);
    });
    // An operator thread never keeps the process alive by itself (a request in flight has its
    // timer). After the listeners: adding a 'message' listener refs the thread's port again.
    this.worker.unref();
  }

  /** The process's shared thread (a new one when there is none, or it stopped). */
  static shared(caps: { maxOutputRecords: number; maxOutputBytes: number }): OperatorThread {
    if (!this.sharedThread || this.sharedThread.dead) this.sharedThread = new OperatorThread(caps);
    return this.sharedThread;
  }

  /** A thread for one instance alone. */
  static own(caps: { maxOutputRecords: number; maxOutputBytes: number }): OperatorThread {
    return new OperatorThread(caps);
  }

  /** A new instance number in this thread, counted as a user until {@link release}. */
  attach(): number {
    this.users += 1;
    return this.nextInstance++;
  }

  /** An instance is done with the thread: the last one stops it. */
  async release(): Promise<void> {
    this.users -= 1;
    if (this.users > 0) return;
    if (OperatorThread.sharedThread === this) OperatorThread.sharedThread = undefined;
    await this.stop("closed");
  }

  /** Stops the thread (an overrun is still spinning; a broken answer means a broken thread). */
  async stop(reason: string): Promise<void> {
    this.lost(reason);
    await this.worker.terminate();
  }

  private lost(reason: string): void {
    this.dead ??= reason;
    for (const finish of [...this.waiting.values()]) finish({ error: this.dead, kind: "lost" });
  }

  /**
   * Sends `message` (with a fresh id) and waits for its answer, at most `budgetMs` of the thread's
   * time on it once taken. `transfer` is moved to the thread.
   */
  request(
    message: Record<string, unknown>,
    transfer: ArrayBuffer[],
    budgetMs: number,
    timeout: string,
  ): Promise<ThreadReply | Failure> {
    if (this.dead) return Promise.resolve({ error: this.dead, kind: "lost" });
    const id = this.nextId++;
    const sentAt = monotonicMs();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout;
      const finish = (r: Posted | Failure) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if ("kind" in r) resolve(r);
        else if (r.error !== undefined) resolve({ error: String(r.error), kind: "failed" });
        else resolve({ id: r.id, ready: r.ready, packed: r.packed });
      };
      const arm = (ms: number) => {
        timer = setTimeout(() => {
          const extra = this.moreTime(id, budgetMs, sentAt);
          if (extra) arm(extra);
          else finish({ error: timeout, kind: "timeout" });
        }, ms);
      };
      this.waiting.set(id, finish);
      arm(budgetMs);
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /**
   * Whether request `id` still has time when its timer fires. The budget is the thread's own time
   * on the request, from when it took it: a worker whose main thread was busy (verifying, signing,
   * a garbage collection) reads the timer late, and must not blame the operator for that. An answer
   * already sent but not yet read is waited for. A request not taken yet waits while the thread
   * runs an earlier one (that one's timer stops the thread if it overruns), and otherwise up to
   * TAKE_BUDGET_MS from when it was sent or the thread last moved, whichever is later.
   */
  private moreTime(id: number, budget: number, sentAt: number): number | undefined {
    const taken = Atomics.load(this.clock, TAKEN);
    const answered = Atomics.load(this.clock, ANSWERED);
    if (answered >= BigInt(id)) return budget; // in the message queue
    if (taken === BigInt(id)) {
      const left = budget - (monotonicMs() - Number(Atomics.load(this.clock, TAKEN_AT)));
      return left > 0 ? left : undefined;
    }
    if (taken > answered) return budget; // running an earlier request
    const moved = Math.max(
      sentAt,
      Number(Atomics.load(this.clock, TAKEN_AT)),
      Number(Atomics.load(this.clock, ANSWERED_AT)),
    );
    const left = TAKE_BUDGET_MS - (monotonicMs() - moved);
    return left > 0 ? Math.min(left, budget) : undefined;
  }

  /** Tells the thread to drop an instance (no answer). */
  drop(instance: number): void {
    if (!this.dead) this.worker.postMessage({ drop: instance });
  }

  /** The thread's resource limits, as Node applied them. */
  get resourceLimits() {
    return this.worker.resourceLimits;
  }
}
