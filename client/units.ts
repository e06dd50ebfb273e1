// Token amounts as people write and read them: "150", "150 tMARU", "0.5", in the token's units,
// never wei. The token's decimals() and symbol() come from the chain (getStakeToken), so a
// deployment with another token (6 decimals, another name) reads and prints right.
import { formatUnits } from "ethers";
import { MaruError } from "./errors/base.js";
import type { Protocol } from "./contracts.js";
import { getStakeToken } from "./read/getStakeToken.js";

/** The stake token's display units. */
export type TokenUnits = { decimals: number; symbol: string };

/**
 * Parses an amount in token units ("150", "0.25", "150 tMARU", or the symbol as a separate
 * argument) into the token's base units. Refuses anything else with what to write instead.
 * @example
 * ```ts
 * parseAmount("150", { decimals: 18, symbol: "tMARU" });         // 150n * 10n ** 18n
 * parseAmount("1.5", { decimals: 18, symbol: "tMARU" }, "tmaru"); // 1.5 tokens
 * ```
 */
export function parseAmount(text: string, units: TokenUnits, symbol?: string): bigint {
  const example = `e.g. 150 or 150 ${units.symbol} (${units.symbol} units, not wei)`;
  let amount = text.trim();
  const inline = amount.match(/^(\S+)\s+(\S+)$/);
  if (inline) [amount, symbol] = [inline[1], inline[2]];
  if (symbol !== undefined && symbol.startsWith("-"))
    throw new MaruError(`Unknown option ${symbol}`, { fix: "see `maru-worker <command> --help`" });
  if (symbol !== undefined && symbol.toLowerCase() !== units.symbol.toLowerCase())
    throw new MaruError(`"${symbol}" is not the stake token: it is ${units.symbol}`, { fix: `write ${example}` });
  if (amount.startsWith("-"))
    throw new MaruError(`The amount must be positive, not ${amount}`, { fix: `write ${example}` });
  const m = amount.match(/^(\d+)(?:\.(\d+))?$/);
  if (!m) throw new MaruError(`"${amount}" is not an amount`, { fix: `write ${example}` });
  const fraction = m[2] ?? "";
  if (fraction.replace(/0+$/, "").length > units.decimals)
    throw new MaruError(`${amount} has more decimals than ${units.symbol} (${units.decimals})`, {
      fix: `round it to at most ${units.decimals} decimal places`,
    });
  const padded = (fraction + "0".repeat(units.decimals)).slice(0, units.decimals);
  const value = BigInt(m[1]) * 10n ** BigInt(units.decimals) + BigInt(padded || "0");
  if (value === 0n) throw new MaruError("The amount must be more than 0", { fix: `write ${example}` });
  return value;
}

/**
 * Formats base units as "150 tMARU" ("0.5 tMARU"; no trailing ".0").
 * @example
 * ```ts
 * formatAmount(150n * 10n ** 18n, { decimals: 18, symbol: "tMARU" }); // "150 tMARU"
 * ```
 */
export function formatAmount(value: bigint, units: TokenUnits): string {
  return `${formatUnits(value, units.decimals).replace(/\.0$/, "")} ${units.symbol}`;
}

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
