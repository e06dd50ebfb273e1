// Token amounts as operators write them: "150", "150 tMARU", "0.5" — in the stake token's units,
// never wei. The token's decimals() and symbol() are read from the chain, so a deployment with
// another token (6 decimals, another name) reads and prints right.
import { getStakeToken, type Protocol } from "../../client/index.js";
import type { TokenUnits } from "../../client/units.js";

export { formatAmount, parseAmount, type TokenUnits } from "../../client/units.js";

/**
 * The stake token's units (the client's getStakeToken; a token without a symbol shows "tokens").
 * @example
 * ```ts
 * const units = await tokenUnits(maru); // { decimals: 18, symbol: "tMARU" }
 * ```
 */
export async function tokenUnits(p: Protocol): Promise<TokenUnits> {
  const t = await getStakeToken(p);
  return { decimals: t.decimals, symbol: t.symbol ?? "tokens" };
}
