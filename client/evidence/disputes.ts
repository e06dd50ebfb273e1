// Execution disputes from the client's side (docs/contracts/execution-disputes.md): the order the
// court takes two conflicting headers in, the dispute id, a juror's commitment and a salt a juror
// can derive again from its key alone. Each computes what the contract computes (differential
// test: test/client/disputes.test.ts).
import { AbiCoder, getBytes, keccak256, type TypedDataDomain } from "ethers";
import { MaruError } from "../errors/base.js";
import { batchHeaderDigest, replicaHash, type BatchHeader } from "../math/eip712.js";

/** IExecutionDisputes.Side: a vote (A: A's content is right, so B is slashed; B; NEITHER: both are wrong) or an outcome (DRAW). */
export const DisputeSide = { NONE: 0, A: 1, B: 2, NEITHER: 3, DRAW: 4 } as const;
export type DisputeSide = (typeof DisputeSide)[keyof typeof DisputeSide];

/** A signed header as the court takes it (IFraudProofs.SignedHeader). */
export type SignedHeaderArg = { header: BatchHeader; signature: string; senderIndex: number };

/** Two headers that cannot open a dispute: the same sender, another position, or the same content. */
export class NotAConflictError extends MaruError {
  override name = "NotAConflictError";
}

const coder = AbiCoder.defaultAbiCoder();

/**
 * The two signed headers in the order `openDispute` takes them (party A has the lower sender
 * address), after checking that they are a conflict the court accepts.
 * @throws NotAConflictError for one sender (that is equivocation: `proveEquivocation`), two
 * positions, or the same replica content.
 * @example
 * ```ts
 * const [a, b] = conflictOrder(mine, theirs);
 * await court.openDispute(a, b);
 * ```
 */
export function conflictOrder(x: SignedHeaderArg, y: SignedHeaderArg): [SignedHeaderArg, SignedHeaderArg] {
  const [hx, hy] = [x.header, y.header];
  if (hx.sender.toLowerCase() === hy.sender.toLowerCase())
    throw new NotAConflictError(`Both headers are signed by ${hx.sender}`, {
      fix: "one sender with two contents at one position is equivocation: prove it with proveEquivocation",
    });
  const position = (h: BatchHeader) => [h.epoch, h.stream, h.shard, h.originShard, h.seq].map(String).join("/");
  if (position(hx) !== position(hy))
    throw new NotAConflictError("The headers are of different positions", {
      details: [`epoch/stream/shard/originShard/seq: ${position(hx)} and ${position(hy)}`],
    });
  if (replicaHash(hx) === replicaHash(hy))
    throw new NotAConflictError("The headers carry the same content: nothing to dispute");
  return BigInt(hx.sender) < BigInt(hy.sender) ? [x, y] : [y, x];
}

/**
 * The id of the dispute on headers `a` and `b` (in {@link conflictOrder}): the hash of their two
 * EIP-712 digests under the fraud proofs' domain. Also the court's commitment to the evidence.
 * @example
 * ```ts
 * const id = disputeId(protocolDomain(chainId, book.contracts.fraudProofs), a.header, b.header);
 * ```
 */
export function disputeId(domain: TypedDataDomain, a: BatchHeader, b: BatchHeader): bigint {
  const digests = [batchHeaderDigest(domain, a), batchHeaderDigest(domain, b)];
  return BigInt(keccak256(coder.encode(["bytes32", "bytes32"], digests)));
}

/**
 * What a juror commits for `side` with `salt` (the court's `voteCommitment`).
 * @example
 * ```ts
 * await court.commitVote(id, myIndex, voteCommitment(id, myIndex, DisputeSide.A, salt));
 * ```
 */
export function voteCommitment(id: bigint, jurorIndex: number, side: DisputeSide, salt: string): string {
  return keccak256(coder.encode(["uint256", "uint32", "uint8", "bytes32"], [id, jurorIndex, side, salt]));
}

/**
 * A juror's salt for dispute `id` that it can derive again from its key alone: the hash of its
 * signature over a fixed message (ECDSA signatures from ethers are deterministic, RFC 6979). A
 * worker that restarts with its disk lost can still reveal, and nobody without the key can
 * guess the salt before the reveal.
 * @example
 * ```ts
 * const salt = await jurorSalt(workerWallet, id, myIndex);
 * ```
 */
export async function jurorSalt(
  signer: { signMessage(message: string | Uint8Array): Promise<string> },
  id: bigint,
  jurorIndex: number,
): Promise<string> {
  const message = getBytes(
    keccak256(coder.encode(["string", "uint256", "uint32"], ["maru juror salt", id, jurorIndex])),
  );
  return keccak256(await signer.signMessage(message));
}
