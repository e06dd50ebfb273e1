// The receiver's side of an execution dispute (docs/protocol.md §12): when two holders' copies of a
// time differed and this worker computed which one was right, it holds both holders' signed headers
// of the position that shows it, and opens one dispute per wrong holder and epoch. Before sending
// it checks that no dispute between the same two holders for that epoch exists yet (another
// receiver may have opened one: a second would only cost jurors a second vote), and simulates
// the call, so a refusal is logged with its reason and costs no gas.
import type { Logger } from "pino";
import type { TypedDataDomain } from "ethers";
import type { Protocol } from "../../client/contracts.js";
import { ContractRevertError, decodeContractError } from "../../client/errors/contracts.js";
import { conflictOrder, disputeId, type SignedHeaderArg } from "../../client/evidence/disputes.js";
import { inBlockRanges } from "../../client/events/logRanges.js";
import type { ExecutionDisputes } from "../../typechain-types/index.js";
import type { DisputeRecord } from "./records.js";

type Queued = {
  epoch: bigint;
  wrong: string;
  x: SignedHeaderArg;
  y: SignedHeaderArg;
  attempts: number;
  /** Wall-clock ms before which it is not sent (the stagger). */
  notBefore: number;
};

/**
 * How long a receiver waits before opening, at most: each waits a part of it fixed by its address,
 * so that receivers who found the same conflict at once do not all open it (the one that waits
 * longer sees the first one's dispute and does not open another).
 */
export const OPEN_STAGGER_MS = 6_000;

/** How many times an opening that failed for a transient reason (an RPC error) is tried. */
const ATTEMPTS = 3;

/**
 * @example
 * ```ts
 * const opener = new DisputeOpener(p, court, domain, log);
 * opener.queue(epoch, wrongHolder, rightHeader, wrongHeader); // from the replica agreement
 * await opener.drain(); // on every tick
 * ```
 */
export class DisputeOpener {
  readonly records: DisputeRecord[] = [];
  private readonly keys = new Set<string>();
  private readonly waiting: Queued[] = [];

  constructor(
    private readonly p: Protocol,
    private readonly court: ExecutionDisputes,
    private readonly domain: TypedDataDomain,
    private readonly log: Logger,
    /** This worker's address: its share of the stagger. */
    me = "0x0",
  ) {
    this.stagger = Number(BigInt(me) % 4n) * (OPEN_STAGGER_MS / 4);
  }

  private readonly stagger: number;

  /** One dispute per (wrong holder, epoch): later conflicts with the same holder in the epoch are dropped. */
  queue(epoch: bigint, wrong: string, x: SignedHeaderArg, y: SignedHeaderArg): void {
    const key = `${epoch}|${wrong.toLowerCase()}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.waiting.push({ epoch, wrong: wrong.toLowerCase(), x, y, attempts: 0, notBefore: Date.now() + this.stagger });
  }

  async drain(): Promise<void> {
    const retry: Queued[] = [];
    while (this.waiting.length > 0) {
      const q = this.waiting.shift()!;
      if (Date.now() < q.notBefore) {
        retry.push(q);
        continue;
      }
      const [a, b] = conflictOrder(q.x, q.y);
      const id = disputeId(this.domain, a.header, b.header);
      const base = { id: id.toString(), epoch: q.epoch.toString(), against: q.wrong };
      try {
        const existing = await this.disputeBetween(q.epoch, String(a.header.sender), String(b.header.sender));
        if (existing !== undefined) {
          this.record({ ...base, id: existing.toString(), action: "already-disputed" });
          continue;
        }
        await this.court.openDispute.staticCall(a, b);
        const tx = await this.court.openDispute(a, b);
        await tx.wait();
        this.record({ ...base, action: "opened", txHash: tx.hash });
      } catch (e) {
        const decoded = decodeContractError(e, [this.court.interface, this.p.epochs.interface]);
        const reverted = decoded instanceof ContractRevertError;
        if (!reverted && q.attempts + 1 < ATTEMPTS) retry.push({ ...q, attempts: q.attempts + 1 });
        this.record({ ...base, action: "refused", reason: decoded.message.split("\n")[0] });
      }
    }
    this.waiting.push(...retry);
  }

  /**
   * The id of a dispute already open between these two parties for `epoch`, if any (read from
   * DisputeOpened). Only the same pair counts: a cheater that opened a dispute against a
   * colluder it is right against must not keep its real lie from being disputed.
   */
  private async disputeBetween(epoch: bigint, partyA: string, partyB: string): Promise<bigint | undefined> {
    const from = Number(await this.p.epochs.windowLastBlock(epoch - 1n)) + 1;
    const head = await this.p.epochs.runner!.provider!.getBlockNumber();
    const opened = await inBlockRanges(
      (f, t) => this.court.queryFilter(this.court.filters.DisputeOpened(undefined, epoch), f, t),
      from,
      head,
    );
    const same = (x: unknown, y: string) => String(x).toLowerCase() === y.toLowerCase();
    const hit = opened.find((e) => same(e.args.partyA, partyA) && same(e.args.partyB, partyB));
    return hit && BigInt(hit.args.id);
  }

  private record(r: Omit<DisputeRecord, "at">): void {
    const full = { ...r, at: Date.now() } as DisputeRecord;
    this.records.push(full);
    this.log[r.action === "refused" ? "warn" : "info"](full, `dispute ${r.action}`);
  }
}
