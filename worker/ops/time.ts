// Chain times as an operator reads them: an ISO date and how long from now, and the time an epoch
// in the future will likely start (epochs may start late, never early).

/** "3 d 4 h", "5 min 2 s": a duration in seconds, two units at most. */
export function duration(seconds: bigint): string {
  let s = seconds < 0n ? 0n : seconds;
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400n],
    ["h", 3_600n],
    ["min", 60n],
    ["s", 1n],
  ] as const) {
    if (s >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${s / size} ${unit}`);
      s %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/** "2025-06-01T12:00:00Z (in 3 d 4 h)" for unix time `at`, chain time now being `now`. */
export function when(at: bigint, now: bigint): string {
  const iso = new Date(Number(at) * 1000).toISOString().replace(/\.000Z$/, "Z");
  return at > now ? `${iso} (in ${duration(at - now)})` : `${iso} (passed)`;
}

/**
 * The earliest time epoch `epoch` can start: the current epoch ends at `currentEnd`, each later one
 * lasts `epochDuration` seconds.
 */
export function epochStartsAt(epoch: bigint, current: bigint, currentEnd: bigint, epochDuration: bigint): bigint {
  if (epoch <= current) return 0n;
  return currentEnd + (epoch - current - 1n) * epochDuration;
}
