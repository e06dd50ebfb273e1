// What a deployment needs, checked before its first transaction (docs/deploy.md#before-the-first-transaction):
// the deployer's funds for the whole deployment at the current fee, and on a testnet the stake token
// (an ERC-20 with code), the VRF coordinator (code) and the subscription (it exists, it is funded in
// the currency the parameters pay in, it has room for the beacon). Every problem is reported at
// once, each with its fix, so that a deploy never stops half-way for a reason it could have known.
import { Contract, formatEther, formatUnits, type Provider } from "ethers";
import type { Parameters } from "./lib.js";

/**
 * Gas of a whole deployment (LocalInfra excluded), measured on anvil with the localhost parameters
 * (test/deploy/preflight.test.ts asserts it stays above the measured figure, so it cannot silently
 * go stale), plus the hand-over transactions.
 */
export const DEPLOY_GAS = 24_000_000n;

/** Chainlink's SubscriptionAPI.MAX_CONSUMERS. */
const MAX_CONSUMERS = 100;

const ERC20 = [
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
  "function totalSupply() view returns (uint256)",
];
const COORDINATOR = [
  "function getSubscription(uint256 subId) view returns (uint96 balance, uint96 nativeBalance, uint64 reqCount, address subOwner, address[] consumers)",
];

export type Problem = { what: string; fix: string };

/**
 * Everything a deployment on this chain with these parameters needs before it sends anything.
 * Returns the problems (none: go ahead).
 */
export async function preflight(
  provider: Provider,
  o: {
    deployer: string;
    params: Parameters;
    local: boolean;
    name: string;
    /** Ignition's journal of this deployment exists: it resumes (or confirms) one already begun. */
    resuming?: boolean;
  },
): Promise<Problem[]> {
  const problems: Problem[] = [];
  const file = `deploy/parameters/${o.name}.json5`;

  // Funds: the whole deployment at the fee a wallet bids now (ethers' maxFeePerGas: twice the base
  // fee plus the tip, which leaves room for the base fee to rise). A deployment that resumes needs
  // only what is left, which nothing here can tell: it must not be refused for the whole amount.
  const fee = await provider.getFeeData();
  const price = fee.maxFeePerGas ?? fee.gasPrice ?? 0n;
  const need = o.resuming ? 1n : DEPLOY_GAS * price;
  const have = await provider.getBalance(o.deployer);
  if (have === 0n || have < need) {
    problems.push({
      what: o.resuming
        ? `the deployer ${o.deployer} has no ETH to finish the deployment`
        : `the deployer ${o.deployer} has ${formatEther(have)} ETH; the deployment needs about ` +
          `${formatEther(need)} ETH (${DEPLOY_GAS} gas at ${formatUnits(price, "gwei")} gwei)`,
      fix: o.local ? "use a funded account of the node (npm run chain's first account)" : "fund it from a faucet",
    });
  }
  if (o.local) return problems; // LocalInfra deploys the token, the coordinator and the subscription

  const token = o.params.Epochs.token;
  if (token === undefined) {
    problems.push({ what: `${file}: Epochs.token is missing`, fix: "put the stake token's address there" });
  } else if ((await provider.getCode(token)) === "0x") {
    problems.push({
      what: `the stake token ${token} (${file}, Epochs.token) has no code on this chain`,
      fix: "put the address of the ERC-20 on this chain there (a token deployed on another chain has another address)",
    });
  } else {
    const erc20 = new Contract(token, ERC20, provider);
    try {
      await Promise.all([erc20.decimals(), erc20.symbol(), erc20.totalSupply()]);
    } catch {
      problems.push({
        what: `the stake token ${token} does not answer decimals(), symbol() and totalSupply(): not an ERC-20`,
        fix: `put an ERC-20's address in ${file}, Epochs.token`,
      });
    }
  }

  const r = o.params.Randomness;
  if (r.coordinator === undefined || r.subscriptionId === undefined) {
    problems.push({
      what: `${file}: Randomness.coordinator and Randomness.subscriptionId are required on ${o.name}`,
      fix: "the coordinator from https://docs.chain.link/vrf/v2-5/supported-networks, the subscription from https://vrf.chain.link",
    });
  } else if ((await provider.getCode(r.coordinator)) === "0x") {
    problems.push({
      what: `the VRF coordinator ${r.coordinator} (${file}) has no code on this chain`,
      fix: "use the VRF v2.5 coordinator of this chain: https://docs.chain.link/vrf/v2-5/supported-networks",
    });
  } else {
    const coordinator = new Contract(r.coordinator, COORDINATOR, provider);
    try {
      const sub = await coordinator.getSubscription(BigInt(r.subscriptionId));
      const funded = r.nativePayment ? (sub.nativeBalance as bigint) : (sub.balance as bigint);
      if (funded === 0n) {
        problems.push({
          what: `VRF subscription ${r.subscriptionId} has no ${r.nativePayment ? "native" : "LINK"} balance (nativePayment is ${r.nativePayment})`,
          fix: `fund it at https://vrf.chain.link${r.nativePayment ? "" : " with LINK"}, or set Randomness.nativePayment to match how it is funded`,
        });
      }
      if ((sub.consumers as string[]).length >= MAX_CONSUMERS) {
        problems.push({
          what: `VRF subscription ${r.subscriptionId} has ${MAX_CONSUMERS} consumers already: the beacon cannot be added`,
          fix: "remove a consumer, or create a new subscription for Maru",
        });
      }
    } catch {
      problems.push({
        what: `VRF subscription ${r.subscriptionId} does not exist on the coordinator ${r.coordinator}`,
        fix: `create one at https://vrf.chain.link and put its id in ${file}, Randomness.subscriptionId`,
      });
    }
  }
  return problems;
}
