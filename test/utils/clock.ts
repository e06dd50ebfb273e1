// One step of a test's clock on a local chain, for tests that run worker processes without the
// devnet: fulfil every VRF request not fulfilled yet (Chainlink's mock), move time on by 15 s when
// `moveOn` says the next epoch may come, and mine a block.
import type { EpochManager, VRFCoordinatorV2_5Mock } from "../../typechain-types/index.js";

export type Clock = {
  epochs: EpochManager;
  coordinator: VRFCoordinatorV2_5Mock;
  provider: { request(a: { method: string; params?: unknown[] }): Promise<unknown> };
  beacon: string;
  fromBlock: number;
  /** Request ids fulfilled so far (kept across steps). */
  fulfilled: Set<bigint>;
};

/** A clock for a deployment's book (no request fulfilled yet). */
export function clockFor(
  book: { startBlock: number; contracts: { beacon: string } },
  parts: Pick<Clock, "epochs" | "coordinator" | "provider">,
): Clock {
  return { ...parts, beacon: book.contracts.beacon, fromBlock: book.startBlock, fulfilled: new Set() };
}

export async function clockStep(
  c: Clock,
  moveOn: (next: Awaited<ReturnType<EpochManager["epochInfo"]>>) => boolean,
): Promise<void> {
  const current = await c.epochs.currentEpoch();
  const next = await c.epochs.epochInfo(current + 1n);
  for (const e of await c.epochs.queryFilter(c.epochs.filters.EpochFrozen(), c.fromBlock)) {
    const id = e.args.requestId as bigint;
    if (id !== 0n && !c.fulfilled.has(id)) {
      c.fulfilled.add(id);
      await (await c.coordinator.fulfillRandomWords(id, c.beacon)).wait().catch(() => undefined);
    }
  }
  if (moveOn(next)) await c.provider.request({ method: "evm_increaseTime", params: [15] });
  await c.provider.request({ method: "evm_mine", params: [] });
}
