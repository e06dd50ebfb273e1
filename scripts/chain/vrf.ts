// What Chainlink's VRF network does on a real chain, for a local one: every RandomWordsRequested of
// a VRFCoordinatorV2_5Mock on the chain is fulfilled (fulfillRandomWords) once the request is as
// deep as it asked for. The mock is the one stand-in the project allows on local chains; the
// fulfiller does not need to know its address: it follows the event wherever it is emitted.
import { Contract, Interface, type JsonRpcProvider, type Log, type Wallet } from "ethers";

const MOCK = new Interface([
  "event RandomWordsRequested(bytes32 indexed keyHash, uint256 requestId, uint256 preSeed, uint256 indexed subId, uint16 minimumRequestConfirmations, uint32 callbackGasLimit, uint32 numWords, bytes extraArgs, address indexed sender)",
  "event RandomWordsFulfilled(uint256 indexed requestId, uint256 outputSeed, uint256 indexed subId, uint96 payment, bool nativePayment, bool success, bool onlyPremium)",
  "function fulfillRandomWords(uint256 requestId, address consumer)",
  "error InvalidRequest()",
  "error InsufficientBalance()",
]);
const REQUESTED = MOCK.getEvent("RandomWordsRequested")!.topicHash;

type Pending = { coordinator: string; requestId: bigint; consumer: string; readyAt: number };

export class VrfFulfiller {
  private next = 0;
  private readonly pending: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private busy?: Promise<void>;
  /** Fulfilled requests, by coordinator and id: a reorg that re-emits a request does not fulfil it twice. */
  readonly fulfilled = new Set<string>();
  /** The last reason said for a request that could not be fulfilled yet. */
  private readonly told = new Map<string, string>();

  constructor(
    private readonly provider: JsonRpcProvider,
    private readonly sender: Wallet,
    private readonly say: (line: string) => void,
    private readonly pollMs = 500,
  ) {}

  start(): void {
    const tick = () => {
      this.busy = this.poll()
        .catch((e: unknown) => this.say(`VRF: ${(e as Error).message.split("\n")[0]} (trying again)`))
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, this.pollMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.busy;
  }

  /** Reads new requests, then fulfils those deep enough. */
  async poll(): Promise<void> {
    const head = await this.provider.getBlockNumber();
    if (head >= this.next) {
      const logs: Log[] = await this.provider.getLogs({ fromBlock: this.next, toBlock: head, topics: [REQUESTED] });
      for (const log of logs) {
        const ev = MOCK.parseLog(log)!;
        this.pending.push({
          coordinator: log.address,
          requestId: ev.args.requestId as bigint,
          consumer: ev.args.sender as string,
          readyAt: log.blockNumber + Number(ev.args.minimumRequestConfirmations),
        });
      }
      this.next = head + 1;
    }
    for (let i = 0; i < this.pending.length;) {
      const p = this.pending[i];
      const key = `${p.coordinator.toLowerCase()}:${p.requestId}`;
      if (this.fulfilled.has(key)) {
        this.pending.splice(i, 1);
        continue;
      }
      if (head < p.readyAt) {
        ++i;
        continue;
      }
      const coordinator = new Contract(p.coordinator, MOCK, this.sender);
      try {
        await coordinator.fulfillRandomWords.staticCall(p.requestId, p.consumer);
      } catch (e) {
        let reason: string | undefined;
        try {
          const data = (e as { data?: string }).data;
          reason = data ? MOCK.parseError(data)?.name : undefined;
        } catch {
          reason = undefined; // not a revert the mock declares
        }
        if (reason === "InvalidRequest") {
          // Someone else fulfilled it (or a reorg dropped it): it is gone from the mock.
          this.fulfilled.add(key);
          this.pending.splice(i, 1);
          this.say(`VRF: request ${p.requestId} is no longer pending (fulfilled elsewhere, or dropped); skipped`);
          continue;
        }
        // Anything else (an unfunded subscription, the node briefly away) is tried again next
        // time, and said once per request and reason.
        const why =
          reason === "InsufficientBalance"
            ? "the subscription cannot pay: fund it (fundSubscription on the mock coordinator)"
            : (e as Error).message.split("\n")[0];
        if (this.told.get(key) !== why) this.say(`VRF: request ${p.requestId} not fulfilled yet: ${why}`);
        this.told.set(key, why);
        ++i;
        continue;
      }
      const receipt = await (await coordinator.fulfillRandomWords(p.requestId, p.consumer)).wait();
      const done = receipt?.logs
        .map((l: Log) => MOCK.parseLog(l))
        .find((e: ReturnType<Interface["parseLog"]>) => e?.name === "RandomWordsFulfilled");
      this.fulfilled.add(key);
      this.told.delete(key);
      this.pending.splice(i, 1);
      this.say(
        `VRF: fulfilled request ${p.requestId} of ${p.consumer} in block ${receipt?.blockNumber}` +
          (done?.args.success === false ? " (the consumer's callback reverted)" : ""),
      );
    }
  }
}
