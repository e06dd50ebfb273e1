// Who is a live holder of an epoch, as EpochManager.isEjected says (docs/protocol.md §10), folded
// from the events a worker follows in final blocks: EpochFrozen (which set an epoch carries),
// MemberDeparted and Slashed. test/epochs/liveness.test.ts checks it against the contract.

/** No ejection (shared: a fresh empty array per question was garbage on the agreement's path). */
const NO_JAILS: ReadonlyArray<{ from: bigint; until: bigint }> = [];

/** The events' record of ejections and departures; answers `isEjected(epoch, worker)`. */
export class Liveness {
  private readonly assignmentOf = new Map<bigint, bigint>();
  /** Per member: its ejections, from a fault's epoch to the last epoch of its jail. */
  private readonly jails = new Map<string, Array<{ from: bigint; until: bigint }>>();
  /** Per member: assignment epoch → the epoch it first departed from that set. */
  private readonly departures = new Map<string, Map<bigint, bigint>>();

  /** EpochFrozen: `epoch` runs with the set of `assignmentEpoch` (an older one when carried). */
  frozen(epoch: bigint, assignmentEpoch: bigint): void {
    this.assignmentOf.set(epoch, assignmentEpoch);
  }

  /** MemberDeparted: the contract records it for the set in force and the next epoch's, once each. */
  departed(worker: string, epoch: bigint): void {
    const w = worker.toLowerCase();
    const sets = this.departures.get(w) ?? new Map<bigint, bigint>();
    for (const a of [this.assignmentOf.get(epoch) ?? epoch, epoch + 1n]) if (!sets.has(a)) sets.set(a, epoch);
    this.departures.set(w, sets);
  }

  /**
   * Slashed for a fault of `epoch`, jailed until `jailedUntil` (as of that punishment; a later read
   * could be another term's): ejected from the fault's epoch to the one before; a second fault of
   * the same epoch may extend it.
   */
  slashed(worker: string, epoch: bigint, jailedUntil: bigint): void {
    const w = worker.toLowerCase();
    const at = this.jails.get(w) ?? [];
    const until = jailedUntil - 1n > epoch ? jailedUntil - 1n : epoch;
    const same = at.find((x) => x.from === epoch);
    if (same === undefined) at.push({ from: epoch, until });
    else if (until > same.until) same.until = until;
    this.jails.set(w, at);
  }

  /** Not a live holder of `epoch`: nobody routes to it. */
  isEjected(epoch: bigint, worker: string): boolean {
    const w = worker.toLowerCase();
    return notLive(epoch, this.assignmentOf.get(epoch), this.jails.get(w) ?? NO_JAILS, this.departures.get(w));
  }
}

/**
 * EpochManager.isEjected on what the events say (docs/protocol.md §10): whether a member of `epoch`,
 * whose assignment epoch is `assignment`, is not a live holder there.
 * - `jails`: its ejections, each from a fault's epoch to the last epoch of the jail (`jailedUntil - 1`):
 *   it is not live in an epoch of that range, nor, in a carried epoch, for as long as a set it
 *   committed to before the jail ended is carried;
 * - `departures`: assignment epoch → the epoch it departed from that set: not live in the epochs
 *   carried with that set from two epochs after.
 * (Where two jail ranges do not touch, the contract keeps the newer only; they differ on epochs that
 * were past when the newer fault was punished.)
 */
export function notLive(
  epoch: bigint,
  assignment: bigint | undefined,
  jails: ReadonlyArray<{ from: bigint; until: bigint }>,
  departures?: ReadonlyMap<bigint, bigint>,
): boolean {
  const carried = assignment !== undefined && assignment !== epoch;
  for (const j of jails) if (j.from <= epoch && (epoch <= j.until || (carried && assignment! <= j.until))) return true;
  if (!carried) return false;
  const d = departures?.get(assignment!);
  return d !== undefined && epoch >= d + 2n;
}
