import { Contract } from "ethers";
import type { Protocol } from "../contracts.js";

/** The stake token, for showing amounts: bigints from the read helpers are in its smallest unit. */
export type StakeTokenInfo = {
  address: string;
  /** ERC-20 decimals (optional in ERC-20: 18 is assumed when the token has none, as wallets do). */
  decimals: number;
  /** ERC-20 symbol, when the token has one. */
  symbol?: string;
};

/**
 * Reads the stake token's address, decimals and symbol, so that a caller can format the bigint
 * amounts the read helpers return (`formatUnits(w.activeStake, t.decimals)`).
 *
 * @example
 * ```ts
 * const t = await getStakeToken(maru);
 * console.log(`${formatUnits(worker.activeStake, t.decimals)} ${t.symbol ?? "tokens"}`);
 * ```
 */
export async function getStakeToken(p: Protocol): Promise<StakeTokenInfo> {
  const address = p.book.contracts.stakeToken;
  const meta = new Contract(
    address,
    ["function decimals() view returns (uint8)", "function symbol() view returns (string)"],
    p.epochs.runner,
  );
  // Both are optional in ERC-20: a token without them still stakes.
  const [decimals, symbol] = await Promise.all([
    (meta.decimals() as Promise<bigint>).catch(() => 18n),
    (meta.symbol() as Promise<string>).catch(() => undefined),
  ]);
  return { address, decimals: Number(decimals), symbol };
}
