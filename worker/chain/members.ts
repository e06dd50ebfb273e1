// Who may talk to this worker (docs/protocol.md §11): the members of the previous, current and next
// epoch, with the libp2p peer ids of the network addresses they registered on-chain. The
// transport refuses any other peer before a message is read, and every message is bound to the
// member whose peer id the connection authenticated (noise).
import { toUtf8String } from "ethers";
import type { Logger } from "pino";
import type { Protocol } from "../../client/contracts.js";

/** The peer id in a registered address (`…/p2p/<peer id>`), or undefined. */
export function peerIdOf(address: string): string | undefined {
  const at = address.lastIndexOf("/p2p/");
  return at < 0 ? undefined : address.slice(at + 5);
}

/**
 * @example
 * ```ts
 * const members = new Membership(p, log);
 * await members.refresh(current);
 * members.memberOf(remotePeer); // the worker address behind a connection, or undefined
 * ```
 */
export class Membership {
  private readonly byEpoch = new Map<bigint, string[]>();
  private readonly address = new Map<string, string>();
  private readonly byPeer = new Map<string, string>();
  private all = new Set<string>();
  private addressesReadAt = 0;
  private refreshing?: Promise<void>;
  private current = 0n;

  constructor(
    private readonly p: Protocol,
    private readonly log: Logger,
    /** How often registered addresses are read again (a restarted peer may have a new one). */
    private readonly addressTtlMs = 5_000,
  ) {}

  /** Reads the members of epochs current-1 … current+1 (new commits only) and, when stale, their addresses. */
  refresh(current: bigint, force = false): Promise<void> {
    this.refreshing ??= this.read(current, force).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(current: bigint, force: boolean): Promise<void> {
    this.current = current;
    for (const e of this.byEpoch.keys()) if (e < current - 1n) this.byEpoch.delete(e);
    const fresh = new Set<string>();
    for (let e = current > 0n ? current - 1n : 0n; e <= current + 1n; e++) {
      const list = this.byEpoch.get(e) ?? [];
      const n = Number(await this.p.epochs.numWorkers(e));
      for (let i = list.length; i < n; ++i) {
        const w = (await this.p.epochs.workerAt(e, i)).toLowerCase();
        list.push(w);
        if (!this.address.has(w)) fresh.add(w);
      }
      this.byEpoch.set(e, list);
    }
    this.all = new Set([...this.byEpoch.values()].flat());
    const stale = force || Date.now() - this.addressesReadAt > this.addressTtlMs;
    for (const w of this.all) if (!this.address.has(w)) fresh.add(w);
    const todo = stale ? this.members() : [...fresh];
    for (const w of todo) {
      try {
        const a = toUtf8String(await this.p.epochs.networkAddressOf(w));
        if (a === "") continue; // not registered yet: read again on the next refresh
        const before = this.address.get(w);
        if (before !== a) {
          if (before && this.byPeer.get(peerIdOf(before) ?? "") === w) this.byPeer.delete(peerIdOf(before) ?? "");
          this.address.set(w, a);
          const id = peerIdOf(a);
          const holder = id ? this.byPeer.get(id) : undefined;
          if (id && holder && holder !== w && peerIdOf(this.address.get(holder) ?? "") === id) {
            // A peer id belongs to the member that registered it first: a later claim (a member
            // registering another's peer id, to have its messages refused) is ignored.
            this.log.warn(
              { member: w, peerId: id, heldBy: holder },
              "a member registered another member's peer id: ignored",
            );
          } else if (id) this.byPeer.set(id, w);
          if (before) this.log.info({ member: w, networkAddress: a }, "a member's network address changed");
        }
      } catch {
        this.log.warn({ member: w }, "a member has no readable network address");
      }
    }
    if (stale) this.addressesReadAt = Date.now();
  }

  /** Every member of the epochs followed (lower case). */
  members(): string[] {
    return [...this.all];
  }

  /** The member behind an authenticated peer id, if it is one of the epochs followed. */
  memberOf(peerId: string): string | undefined {
    const w = this.byPeer.get(peerId);
    return w !== undefined && this.all.has(w) ? w : undefined;
  }

  /** The registered address of a member (to dial it). */
  addressOf(member: string): string | undefined {
    return this.address.get(member.toLowerCase());
  }

  /** The epoch the membership was last read for. */
  get epoch(): bigint {
    return this.current;
  }
}
