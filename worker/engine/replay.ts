// A first-stage operator run again from the source (docs/protocol.md §12): what a receiver computes
// itself when its replicas' copies of a time differ, or when a holder stayed silent. A fresh
// instance of the registered operator takes the source shard's deltas in order, exactly as every
// holder's own instance of that shard does, and keeps what it emitted for each input's time, so
// later times continue the same run and earlier ones are answered from memory.
import { MAX_BATCH } from "../../client/batches/types.js";
import type { Delta } from "../../client/math/lthash.js";
import { OperatorHost } from "../operators/host.js";

/**
 * @example
 * ```ts
 * const replay = await Replay.start(op.bytecode, { perDeltaMs: 50 }, () => sourceDeltasOf(shard));
 * const emitted = await replay.at(time); // what the operator emitted for the input of `time`
 * await replay.close();
 * ```
 */
export class Replay {
  /** How many inputs have run. */
  private next = 0;
  private readonly out = new Map<bigint, Delta[]>();
  /** Calls run one after another; a failure stays (the operator is closed). */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly host: OperatorHost,
    /** The source shard's deltas read so far, in order (the list grows as the window is read). */
    private readonly inputs: () => Delta[],
  ) {}

  static async start(bytecode: Uint8Array, options: { perDeltaMs: number }, inputs: () => Delta[]): Promise<Replay> {
    // In a thread of its own: a recomputation for a dispute must not stop the live operators.
    return new Replay(await OperatorHost.start(bytecode, { ...options, ownThread: true }), inputs);
  }

  /**
   * What the operator emitted for the input whose time is `time` (empty when it emitted nothing or
   * no input has that time), running the inputs up to it first. Rejects, for this and every later
   * call, once the operator fails.
   */
  at(time: bigint): Promise<Delta[]> {
    const run = this.chain.then(async () => {
      if (this.closed) throw new Error("the operator run again from the source failed earlier");
      const inputs = this.inputs();
      let end = this.next;
      while (end < inputs.length && BigInt(inputs[end].time) <= time) ++end;
      try {
        for (let i = this.next; i < end; i += MAX_BATCH) {
          const chunk = inputs.slice(i, Math.min(end, i + MAX_BATCH));
          const outs = await this.host.process(chunk);
          chunk.forEach((d, j) => this.out.set(BigInt(d.time), outs[j]));
        }
      } catch (e) {
        await this.close();
        throw e;
      }
      this.next = end;
    });
    this.chain = run.catch(() => undefined);
    return run.then(() => this.out.get(time) ?? []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.host.close();
  }
}
