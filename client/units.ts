import { formatUnits, parseUnits } from "ethers";
import { MaruError } from "./errors/base.js";

/**
 * Parses an amount a person typed in token units ("150", "0.5", "150 MARU") into base units,
 * refusing what would silently mean something else: negative or non-numeric text, more decimals
 * than the token has, another token's symbol.
 *
 * @example
 * ```ts
 * parseTokenAmount("150", 18, "MARU"); // 150000000000000000000n
 * parseTokenAmount("1.5 MARU", 18, "MARU"); // 1500000000000000000n
 * ```
 */
export function parseTokenAmount(text: string, decimals: number, symbol: string): bigint {
  const m = text.trim().match(/^(\d+(?:\.(\d+))?)(?:\s*([A-Za-z][A-Za-z0-9]*))?$/);
  if (!m) {
    throw new MaruError(`"${text}" is not an amount of ${symbol}`, {
      fix: `give a non-negative number of tokens, e.g. 150 or 0.5 (in ${symbol}, not in base units)`,
    });
  }
  if (m[3] && m[3].toLowerCase() !== symbol.toLowerCase()) {
    throw new MaruError(`"${text}" is in ${m[3]}, the token is ${symbol}`, { fix: `give the amount in ${symbol}` });
  }
  if ((m[2]?.length ?? 0) > decimals) {
    throw new MaruError(`"${text}" has ${m[2].length} decimals; ${symbol} has ${decimals}`, {
      fix: `round it to ${decimals} decimals`,
    });
  }
  return parseUnits(m[1], decimals);
}

/** An amount in base units as a person reads it: "150.5 MARU". */
export function formatTokenAmount(amount: bigint, decimals: number, symbol: string): string {
  const text = formatUnits(amount, decimals);
  return `${text.endsWith(".0") ? text.slice(0, -2) : text} ${symbol}`;
}
