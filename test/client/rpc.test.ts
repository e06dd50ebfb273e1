// openRpc against a real anvil that mines a block a second: a transaction is awaited at the pace the
// caller asks for (a worker's --poll-ms), not ethers' default of one look every 4 s, and an
// unreachable URL is one error that names it.
import { expect } from "chai";
import { Wallet } from "ethers";
import { openRpc } from "../../client/rpc.js";
import { MaruError } from "../../client/errors/base.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

describe("client: openRpc", function () {
  this.timeout(60_000);
  let node: ChainNode;
  before(async () => (node = await startAnvil(["--block-time", "1"])));
  after(async () => node?.stop());

  /** Seconds from sending a transfer to its receipt, through a provider opened with `pollMs`. */
  async function waitSeconds(pollMs?: number): Promise<number> {
    const { provider } = await openRpc(node.url, { pollMs });
    try {
      const wallet = Wallet.createRandom(provider);
      await provider.send("anvil_setBalance", [wallet.address, "0xde0b6b3a7640000"]);
      const t0 = Date.now();
      const tx = await wallet.sendTransaction({ to: Wallet.createRandom().address, value: 1n });
      const receipt = await tx.wait();
      expect(receipt?.status).to.equal(1);
      return (Date.now() - t0) / 1000;
    } finally {
      provider.destroy();
    }
  }

  it("waits for a transaction at the given pace: within a block time and a poll, where ethers' default looks every 4 s", async function () {
    const { provider } = await openRpc(node.url, { pollMs: 100 });
    expect(provider.pollingInterval).to.equal(100);
    provider.destroy();
    const { provider: plain } = await openRpc(node.url);
    expect(plain.pollingInterval).to.equal(4000);
    plain.destroy();
    // Three transfers each way: with a block a second, every one at 100 ms is mined and seen in under
    // 2.5 s; at ethers' default, the first look finds it pending and the next is 4 s later.
    const fast = [await waitSeconds(100), await waitSeconds(100), await waitSeconds(100)];
    const slow = [await waitSeconds(), await waitSeconds(), await waitSeconds()];
    expect(Math.max(...fast), `with pollMs 100: ${fast.join(", ")} s`).to.be.below(2.5);
    expect(Math.max(...slow), `ethers' default: ${slow.join(", ")} s`).to.be.above(Math.max(...fast));
  });

  it("names an unreachable URL in one error", async function () {
    const err = await openRpc("http://127.0.0.1:1", { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(MaruError);
    expect((err as MaruError).message).to.match(/^Cannot reach the chain node at http:\/\/127\.0\.0\.1:1/);
  });
});
