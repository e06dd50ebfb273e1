import { Contract, type ContractRunner, type ContractTransactionResponse, type Interface } from "ethers";
// Each factory from its own file, not the typechain barrel: the barrel re-exports the test
// contracts (mocks, harnesses), which the package must not ship.
import { BlockHashOracle__factory } from "../typechain-types/factories/contracts/oracle/BlockHashOracle__factory.js";
import { EpochManager__factory } from "../typechain-types/factories/contracts/epochs/EpochManager.sol/EpochManager__factory.js";
import { FraudProofs__factory } from "../typechain-types/factories/contracts/slashing/FraudProofs__factory.js";
import { ExecutionDisputes__factory } from "../typechain-types/factories/contracts/slashing/ExecutionDisputes__factory.js";
import { OperatorRegistry__factory } from "../typechain-types/factories/contracts/registry/OperatorRegistry__factory.js";
import { StreamInbox__factory } from "../typechain-types/factories/contracts/inbox/StreamInbox__factory.js";
import { VRFBeacon__factory } from "../typechain-types/factories/contracts/randomness/VRFBeacon__factory.js";

/** The addresses book a deployment writes (deployments/<chainId>.json; docs/deploy.md). */
export type AddressesBook = {
  chainId: number;
  network: string;
  deploymentId: string;
  startBlock: number;
  contracts: {
    epochManager: string;
    beacon: string;
    registry: string;
    timelock: string;
    fraudProofs: string;
    blockHashOracle: string;
    streamInbox: string;
    stakeToken: string;
    vrfCoordinator: string;
  };
  vrf: { subscriptionId: string; keyHash: string };
};

/**
 * Typed contracts (typechain, ethers v6) of a deployment, on any ethers provider or signer.
 *
 * @example
 * ```ts
 * const book = JSON.parse(readFileSync("deployments/11155111.json", "utf8"));
 * const maru = connectProtocol(book, wallet.connect(new JsonRpcProvider(rpcUrl)));
 * await maru.epochs.currentEpoch();
 * ```
 */
export function connectProtocol(book: AddressesBook, runner: ContractRunner) {
  const k = book.contracts;
  const epochs = EpochManager__factory.connect(k.epochManager, runner);
  const fraud = FraudProofs__factory.connect(k.fraudProofs, runner);
  return {
    book,
    epochs,
    fraud,
    beacon: VRFBeacon__factory.connect(k.beacon, runner),
    registry: OperatorRegistry__factory.connect(k.registry, runner),
    oracle: BlockHashOracle__factory.connect(k.blockHashOracle, runner),
    inbox: StreamInbox__factory.connect(k.streamInbox, runner),
    token: new Contract(
      k.stakeToken,
      [
        "function allowance(address owner, address spender) view returns (uint256)",
        "function approve(address spender, uint256 amount) returns (bool)",
        "function balanceOf(address account) view returns (uint256)",
      ],
      runner,
    ) as unknown as StakeToken,
    /** Every interface whose custom errors a protocol call may revert with (for decodeContractError). */
    errorInterfaces: [
      epochs.interface,
      fraud.interface,
      ExecutionDisputes__factory.createInterface(),
      OperatorRegistry__factory.createInterface(),
      BlockHashOracle__factory.createInterface(),
      StreamInbox__factory.createInterface(),
    ] as Interface[],
  };
}

/**
 * The execution-dispute court the deployment's fraud proofs created (docs/contracts/execution-disputes.md).
 * @example
 * ```ts
 * const court = await connectCourt(maru);
 * const [dispute, votes] = await court.disputeOf(id);
 * ```
 */
export async function connectCourt(maru: ReturnType<typeof connectProtocol>) {
  return ExecutionDisputes__factory.connect(await maru.fraud.disputes(), maru.fraud.runner);
}

/** The stake token's functions the client uses (an ERC-20). */
export type StakeToken = {
  allowance(owner: string, spender: string): Promise<bigint>;
  approve(spender: string, amount: bigint): Promise<ContractTransactionResponse>;
  balanceOf(account: string): Promise<bigint>;
};

/**
 * The address of the signer the contracts send with (throws when they were given a provider).
 * @example
 * ```ts
 * const me = await signerAddress(connectProtocol(book, wallet));
 * ```
 */
export async function signerAddress(p: { epochs: { runner: ContractRunner | null } }): Promise<string> {
  const runner = p.epochs.runner as unknown as { getAddress?: () => Promise<string> } | null;
  if (!runner?.getAddress) throw new Error("connectProtocol was given a provider, not a signer: actions need a signer");
  return runner.getAddress();
}

/** What {@link connectProtocol} returns. */
export type Protocol = ReturnType<typeof connectProtocol>;
