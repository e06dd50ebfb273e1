// What the deployer cannot hand to the timelock in one step, read from the chain: the VRF beacon
// (Chainlink's ConfirmedOwner: the owner offers, the new owner accepts) and the VRF subscription
// (SubscriptionAPI: the owner requests the transfer, the new owner accepts). Until the timelock has
// accepted both, whoever owns them can point the beacon at a coordinator that picks `r`, or cancel
// the subscription. Read by the deploy (scripts/deploy/lib.ts), its check (scripts/deploy/checks.ts)
// and `npm run gov -- accept-ownership` (operations.ts), which has the timelock accept them.
import { Interface, ZeroAddress, getAddress, type Provider } from "ethers";
import { VRFBeacon__factory } from "../../typechain-types/factories/contracts/randomness/VRFBeacon__factory.js";

/** The part of Chainlink's VRF v2.5 SubscriptionAPI the deployment uses (coordinator and mock alike). */
export const subscriptionApi = new Interface([
  "function getSubscription(uint256 subId) view returns (uint96 balance, uint96 nativeBalance, uint64 reqCount, address owner, address[] consumers)",
  "function addConsumer(uint256 subId, address consumer)",
  "function requestSubscriptionOwnerTransfer(uint256 subId, address newOwner)",
  "function acceptSubscriptionOwnerTransfer(uint256 subId)",
  "error MustBeRequestedOwner(address proposedOwner)",
  "error MustBeSubOwner(address owner)",
  "error InvalidSubscription()",
]);

export const beaconApi = VRFBeacon__factory.createInterface();

/** An owner and the account a transfer is offered to (ZeroAddress: none). */
export type Ownership = { owner: string; pending: string };

export type HandoverState = {
  timelock: string;
  beacon: Ownership & { address: string };
  subscription: Ownership & { coordinator: string; id: bigint; consumers: string[] };
};

export const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function revertData(e: unknown): string | undefined {
  const x = e as { data?: unknown; error?: { data?: unknown }; info?: { error?: { data?: unknown } } };
  for (const d of [x?.data, x?.error?.data, x?.info?.error?.data])
    if (typeof d === "string" && d.startsWith("0x")) return d;
  return undefined;
}

/**
 * The beacon's owner and pending owner. ConfirmedOwnerWithProposal keeps them in storage slots 0
 * and 1 and has no getter for the pending one; slot 0 is compared with owner() so that a different
 * layout is an error, not a wrong answer.
 */
export async function beaconOwnership(provider: Provider, beacon: string): Promise<Ownership> {
  const contract = VRFBeacon__factory.connect(beacon, provider);
  const [owner, slot0, slot1] = await Promise.all([
    contract.owner(),
    provider.getStorage(beacon, 0),
    provider.getStorage(beacon, 1),
  ]);
  const asAddress = (word: string) => getAddress("0x" + word.slice(-40));
  if (!same(asAddress(slot0), owner)) {
    throw new Error(`VRFBeacon ${beacon}: storage slot 0 is not its owner; ConfirmedOwner's layout changed`);
  }
  return { owner, pending: asAddress(slot1) };
}

/**
 * A subscription's owner and requested owner. The coordinator has no getter for the requested one;
 * acceptSubscriptionOwnerTransfer simulated from `probe` succeeds when `probe` is it, and otherwise
 * reverts with MustBeRequestedOwner(requested), which names it.
 */
export async function subscriptionOwnership(
  provider: Provider,
  coordinator: string,
  id: bigint,
  probe: string,
): Promise<Ownership & { consumers: string[] }> {
  const [, , , owner, consumers] = subscriptionApi.decodeFunctionResult(
    "getSubscription",
    await provider.call({ to: coordinator, data: subscriptionApi.encodeFunctionData("getSubscription", [id]) }),
  );
  let pending: string;
  try {
    await provider.call({
      to: coordinator,
      from: probe,
      data: subscriptionApi.encodeFunctionData("acceptSubscriptionOwnerTransfer", [id]),
    });
    pending = getAddress(probe);
  } catch (e) {
    const data = revertData(e);
    const parsed = data ? subscriptionApi.parseError(data) : null;
    if (parsed?.name !== "MustBeRequestedOwner") throw e;
    pending = getAddress(parsed.args[0] as string);
  }
  return { owner: owner as string, pending, consumers: [...(consumers as string[])] };
}

/** The beacon's and its subscription's ownership (the coordinator and subscription id are the beacon's own). */
export async function readHandover(provider: Provider, timelock: string, beacon: string): Promise<HandoverState> {
  const contract = VRFBeacon__factory.connect(beacon, provider);
  const [coordinator, [, id]] = await Promise.all([contract.s_vrfCoordinator(), contract.config()]);
  return {
    timelock,
    beacon: { address: beacon, ...(await beaconOwnership(provider, beacon)) },
    subscription: { coordinator, id, ...(await subscriptionOwnership(provider, coordinator, id, timelock)) },
  };
}

/** One thing the timelock accepts: done (it owns it), acceptable now (a call), or blocked (why, and who can unblock it). */
export type Acceptance = {
  what: string;
  status: "done" | "acceptable" | "blocked";
  call: { target: string; data: string; description: string };
  reason: string;
  fix?: string;
};

export function acceptances(h: HandoverState): Acceptance[] {
  const b = h.beacon;
  const s = h.subscription;
  const offered = (o: Ownership) =>
    same(o.pending, ZeroAddress) ? "no transfer is pending" : `offered to ${o.pending}`;
  return [
    {
      what: `VRFBeacon ${b.address}`,
      status: same(b.owner, h.timelock) ? "done" : same(b.pending, h.timelock) ? "acceptable" : "blocked",
      call: {
        target: b.address,
        data: beaconApi.encodeFunctionData("acceptOwnership"),
        description: `VRFBeacon(${b.address}).acceptOwnership()`,
      },
      reason: `owned by ${b.owner}; ${same(b.pending, h.timelock) ? "the timelock is its pending owner" : offered(b)}`,
      fix: `its owner ${b.owner} calls transferOwnership(${h.timelock}) on ${b.address}`,
    },
    {
      what: `VRF subscription ${s.id}`,
      status: same(s.owner, h.timelock) ? "done" : same(s.pending, h.timelock) ? "acceptable" : "blocked",
      call: {
        target: s.coordinator,
        data: subscriptionApi.encodeFunctionData("acceptSubscriptionOwnerTransfer", [s.id]),
        description: `VRFCoordinator(${s.coordinator}).acceptSubscriptionOwnerTransfer(${s.id})`,
      },
      reason: `owned by ${s.owner}; ${same(s.pending, h.timelock) ? "the transfer to the timelock is requested" : offered(s)}`,
      fix:
        `its owner ${s.owner} calls requestSubscriptionOwnerTransfer(${s.id}, ${h.timelock}) on the coordinator ` +
        `${s.coordinator} (on a public network, the subscription's page at https://vrf.chain.link does it)`,
    },
  ];
}
