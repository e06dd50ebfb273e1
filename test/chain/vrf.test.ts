// npm run chain's VRF fulfiller (scripts/chain/vrf.ts) against Chainlink's mock coordinator on anvil
// (its own process): a request is fulfilled once it is as deep as it asked, not before; a request
// fulfilled by someone else is skipped once; an unfunded subscription is said once and tried again
// until it is funded.
import { expect } from "chai";
import { network } from "hardhat";
import { AbiCoder, Wallet, id, parseEther, concat, type JsonRpcProvider } from "ethers";
import { VrfFulfiller } from "../../scripts/chain/vrf.js";
import { FULFILLER_KEY } from "../../scripts/chain/keys.js";
import { openRpc } from "../../client/rpc.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

const EXTRA_ARGS_LINK = concat([
  id("VRF ExtraArgsV1").slice(0, 10),
  AbiCoder.defaultAbiCoder().encode(["bool"], [false]),
]);

describe("npm run chain: the VRF mock fulfilled automatically", function () {
  this.timeout(120_000);
  let node: ChainNode;
  let provider: JsonRpcProvider;
  let conn: Awaited<ReturnType<typeof network.create>>;

  before(async () => {
    node = await startAnvil();
    ({ provider } = await openRpc(node.url));
    conn = await network.create({ network: "localhost", override: { url: node.url } });
  });
  after(async () => {
    provider?.destroy();
    await node?.stop();
  });

  it("fulfils at the requested depth, skips what others fulfilled, and waits for a subscription to be funded", async function () {
    const [owner, consumer] = await conn.ethers.getSigners();
    const mock = await conn.ethers.deployContract(
      "VRFCoordinatorV2_5Mock",
      [10n ** 17n, 10n ** 9n, 4n * 10n ** 15n],
      owner,
    );
    const subscribe = async (funded: boolean) => {
      await (await mock.createSubscription()).wait();
      const ids = (await mock.getActiveSubscriptionIds(0n, 100n)) as bigint[];
      const sub = ids[ids.length - 1];
      if (funded) await (await mock.fundSubscription(sub, parseEther("100"))).wait();
      await (await mock.addConsumer(sub, consumer.address)).wait();
      return sub;
    };
    const request = async (sub: bigint, confirmations: number) => {
      const receipt = await (
        await mock.connect(consumer).requestRandomWords({
          keyHash: id("lane"),
          subId: sub,
          requestConfirmations: confirmations,
          callbackGasLimit: 100_000,
          numWords: 1,
          extraArgs: EXTRA_ARGS_LINK,
        })
      ).wait();
      return mock.interface.parseLog(receipt!.logs[0])!.args.requestId as bigint;
    };
    const mine = (n: number) => provider.send("anvil_mine", [`0x${n.toString(16)}`]);
    const said: string[] = [];
    const fulfiller = new VrfFulfiller(provider, new Wallet(FULFILLER_KEY, provider), (l) => said.push(l));
    const pending = async (requestId: bigint) =>
      (await mock.queryFilter(mock.filters.RandomWordsFulfilled(requestId), 0)).length === 0;

    // Deep enough only after the confirmations it asked for.
    const funded = await subscribe(true);
    const first = await request(funded, 3);
    await fulfiller.poll();
    expect(await pending(first), "not before 3 blocks").to.equal(true);
    await mine(3);
    await fulfiller.poll();
    expect(await pending(first), "fulfilled").to.equal(false);
    expect(said.at(-1)).to.match(new RegExp(`VRF: fulfilled request ${first} of ${consumer.address}`));

    // Fulfilled by someone else first: skipped, once, and never sent.
    const second = await request(funded, 0);
    await (await mock.fulfillRandomWords(second, consumer.address)).wait();
    const nonce = await provider.getTransactionCount(new Wallet(FULFILLER_KEY).address);
    await fulfiller.poll();
    await fulfiller.poll();
    expect(said.filter((l) => l.includes(`request ${second} is no longer pending`))).to.have.length(1);
    expect(await provider.getTransactionCount(new Wallet(FULFILLER_KEY).address)).to.equal(nonce);

    // An unfunded subscription: said once with its fix, tried again, fulfilled once funded.
    const empty = await subscribe(false);
    const third = await request(empty, 0);
    await fulfiller.poll();
    await fulfiller.poll();
    expect(
      said.filter((l) => l.includes(`request ${third} not fulfilled yet: the subscription cannot pay`)),
    ).to.have.length(1);
    expect(await pending(third)).to.equal(true);
    await (await mock.fundSubscription(empty, parseEther("100"))).wait();
    await fulfiller.poll();
    expect(await pending(third), "fulfilled once funded").to.equal(false);
  });
});
