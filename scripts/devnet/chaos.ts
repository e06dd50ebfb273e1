// The devnet's chaos (npm run devnet -- --chaos): what an honest worker meets in its first week,
// done for real to real processes. A reorg of the chain node (anvil_reorg) deeper than the
// workers' confirmation depth, and a flood from a peer that is not a member. (Killing and
// restarting a worker is the conductor's, in devnet.ts, since it owns the worker processes.)
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Wallet } from "ethers";

type Rpc = { request(a: { method: string; params: unknown[] }): Promise<unknown> };

async function blockAt(rpc: Rpc, n: number) {
  return (await rpc.request({ method: "eth_getBlockByNumber", params: [`0x${n.toString(16)}`, false] })) as {
    hash: string;
    transactions: string[];
  };
}

export type Reorg = { depth: number; fromBlock: number; toBlock: number; txsReincluded: number; at: number };

/**
 * Replaces the last `depth` blocks with new ones holding the same transactions at the same heights
 * (so nothing that was mined is lost, as after a real reorg where the transactions are mined again),
 * but with different block hashes. Mining is paused meanwhile, so no transaction slips into the
 * range between reading it and reorganising it. Returns undefined if the hashes did not change.
 */
export async function reorgChain(rpc: Rpc, depth: number): Promise<Reorg | undefined> {
  await rpc.request({ method: "evm_setAutomine", params: [false] });
  try {
    const head = Number(await rpc.request({ method: "eth_blockNumber", params: [] }));
    const before: string[] = [];
    const pairs: Array<[string, number]> = [];
    for (let i = 0; i < depth; ++i) {
      const block = await blockAt(rpc, head - depth + 1 + i);
      before.push(block.hash);
      for (const tx of block.transactions) {
        const raw = (await rpc.request({ method: "eth_getRawTransactionByHash", params: [tx] })) as string;
        pairs.push([raw, i]);
      }
    }
    // A new coinbase changes every new header, even where the timestamps and base fee would not.
    await rpc.request({ method: "anvil_setCoinbase", params: [Wallet.createRandom().address] });
    await rpc.request({ method: "anvil_reorg", params: [depth, pairs] });
    for (let i = 0; i < depth; ++i) {
      if ((await blockAt(rpc, head - depth + 1 + i)).hash === before[i]) return undefined;
    }
    return { depth, fromBlock: head - depth + 1, toBlock: head, txsReincluded: pairs.length, at: Date.now() };
  } finally {
    await rpc.request({ method: "evm_setAutomine", params: [true] });
  }
}

export type Flood = {
  target: string;
  worker: string;
  connected: boolean;
  refusedAtConnect: number;
  sent: number;
  bytes: number;
  at: number;
};

/**
 * Floods a worker from a new libp2p identity (not a member) with oversize, far-future and
 * next-epoch messages and forged end notices claiming `sender` (scripts/devnet/flood.ts).
 */
export async function floodWorker(
  target: string,
  worker: string,
  epoch: bigint,
  sender: string,
  work: string,
): Promise<Flood> {
  const json = join(work, `flood-${Date.now()}.json`);
  const proc = spawn(
    join(process.cwd(), "node_modules/.bin/tsx"),
    [
      "scripts/devnet/flood.ts",
      "--target",
      target,
      "--epoch",
      String(epoch),
      "--sender",
      sender,
      "--count",
      "20",
      "--json",
      json,
    ],
    { stdio: "ignore" },
  );
  await new Promise((resolve) => proc.once("exit", resolve));
  const r = JSON.parse(readFileSync(json, "utf8"));
  return {
    target,
    worker,
    connected: r.connected,
    refusedAtConnect: r.refusedAtConnect,
    sent: r.sent,
    bytes: r.bytes,
    at: Date.now(),
  };
}
