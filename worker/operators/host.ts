// Runs a registered operator's WebAssembly bytecode sandboxed: its own thread, a bounded memory
// (declared in the module, checked before it runs), and a time budget per delta. A failing
// operator is an OperatorError for the caller, never a crash of the worker. docs/operators.md.
import { Worker } from "node:worker_threads";
import { MaruError } from "../../client/errors/base.js";
import type { Delta } from "../../client/math/lthash.js";

/** An operator failed: it trapped, ran out of memory or time, or is not a valid operator module. */
export class OperatorError extends MaruError {
  override name = "OperatorError";
}

/** The memory limits a module declares (64 KiB pages), from its binary; undefined max = unbounded. */
export function memoryLimits(bytes: Uint8Array): { imported: boolean; min?: number; max?: number } {
  const leb = (at: number): [number, number] => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++];
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return [result >>> 0, at];
      shift += 7;
    }
  };
  let at = 8; // magic + version
  let imported = false;
  while (at < bytes.length) {
    const id = bytes[at++];
    const [size, start] = leb(at);
    if (id === 2) {
      // imports: look for a memory import (kind 2)
      const [count, first] = leb(start);
      let p = first;
      for (let i = 0; i < count; ++i) {
        let len;
        [len, p] = leb(p);
        p += len;
        [len, p] = leb(p);
        p += len;
        const kind = bytes[p++];
        if (kind === 2) imported = true;
        if (kind === 0) [, p] = leb(p);
        else if (kind === 1) {
          p += 1;
          const flag = bytes[p++];
          [, p] = leb(p);
          if (flag & 1) [, p] = leb(p);
        } else if (kind === 2) {
          const flag = bytes[p++];
          [, p] = leb(p);
          if (flag & 1) [, p] = leb(p);
        } else if (kind === 3) p += 2;
      }
    }
    if (id === 5) {
      const [count, first] = leb(start);
      if (count === 0) return { imported };
      const flag = bytes[first];
      const [min, p] = leb(first + 1);
      const max = flag & 1 ? leb(p)[0] : undefined;
      return { imported, min, max };
    }
    at = start + size;
  }
  return { imported };
}

/** What an operator produced for one input delta: output deltas with the input's time. */
export type OperatorOutput = Delta[];

/**
 * One running operator. `start` checks the module (a bounded memory of at most `maxMemoryPages`
 * pages, not imported) and instantiates it in a worker thread; `process` sends deltas through it
 * with a budget of `perDeltaMs` per delta for the batch; an overrun stops the thread (the
 * operator's state is lost: restart it and replay) and rejects with {@link OperatorError}.
 *
 * @example
 * ```ts
 * const op = await OperatorHost.start(bytecode, { maxMemoryPages: 256, perDeltaMs: 5 });
 * const outputs = await op.process(deltas); // outputs[i]: what deltas[i] produced
 * await op.close();
 * ```
 */
export class OperatorHost {
  private next = 0;
  private dead?: string;
  /** Requests run one after another: a request's time budget starts when the thread takes it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Input deltas the operator called malformed (it returned a negative count): skipped, no output. */
  malformed = 0;

  private constructor(
    private readonly thread: Worker,
    private readonly perDeltaMs: number,
  ) {}

  static async start(
    bytecode: Uint8Array,
    options: { maxMemoryPages?: number; perDeltaMs?: number } = {},
  ): Promise<OperatorHost> {
    const maxPages = options.maxMemoryPages ?? 256;
    let limits;
    try {
      limits = memoryLimits(bytecode);
    } catch {
      throw new OperatorError("The operator's bytecode is not a WebAssembly module");
    }
    if (limits.imported) throw new OperatorError("The operator imports its memory: operators must declare their own");
    if (limits.max === undefined || limits.max > maxPages) {
      throw new OperatorError(
        `The operator's memory is not bounded to ${maxPages} pages (declared: ${limits.max ?? "none"})`,
        {
          fix: `build it with --maximumMemory ${maxPages} or less`,
        },
      );
    }
    const thread = new Worker(new URL("./thread.mjs", import.meta.url), { workerData: { bytes: bytecode } });
    const ready = await new Promise<{ ready: boolean; error?: string }>((resolve) => {
      thread.once("message", resolve);
      thread.once("error", (e) => resolve({ ready: false, error: e.message }));
    });
    if (!ready.ready) {
      await thread.terminate();
      throw new OperatorError(`The operator could not start: ${ready.error}`);
    }
    return new OperatorHost(thread, options.perDeltaMs ?? 10);
  }

  /** Runs `deltas` through the operator, in order. Rejects with OperatorError on any failure. */
  process(deltas: Delta[]): Promise<OperatorOutput[]> {
    const result = this.queue.then(() => this.run(deltas));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async run(deltas: Delta[]): Promise<OperatorOutput[]> {
    if (this.dead) throw new OperatorError(`The operator is stopped: ${this.dead}`);
    const id = this.next++;
    const payload = deltas.map((d) => ({
      data:
        typeof d.data === "string" ? Buffer.from(d.data.slice(2), "hex") : Uint8Array.from(d.data as ArrayLike<number>),
      diff: BigInt(d.diff),
    }));
    // A fixed allowance for message passing and scheduling on a busy machine, plus the per-delta budget.
    const budget = 500 + this.perDeltaMs * deltas.length;
    const reply = await new Promise<{ out?: Array<Array<{ data: Uint8Array; diff: bigint }> | null>; error?: string }>(
      (resolve) => {
        const timer = setTimeout(() => {
          this.thread.off("message", onMessage);
          resolve({ error: `timeout: more than ${budget} ms for ${deltas.length} deltas` });
        }, budget);
        const onMessage = (m: { id: number; out?: never; error?: string }) => {
          if (m.id !== id) return;
          clearTimeout(timer);
          this.thread.off("message", onMessage);
          resolve(m);
        };
        this.thread.on("message", onMessage);
        this.thread.postMessage({ id, deltas: payload });
      },
    );
    if (reply.error) {
      // A trap may leave the instance inconsistent, and an overrun thread is still spinning: stop it.
      this.dead = reply.error;
      await this.thread.terminate();
      throw new OperatorError(`The operator failed: ${reply.error}`, {
        fix: "the operator is stopped; restart it and replay its input, or report the operator",
      });
    }
    return reply.out!.map((records, i) => {
      if (records === null) {
        this.malformed += 1;
        return [];
      }
      return records.map((r) => ({ data: r.data, time: BigInt(deltas[i].time), diff: r.diff }));
    });
  }

  async close(): Promise<void> {
    this.dead ??= "closed";
    await this.thread.terminate();
  }
}
