/**
 * Options for {@link MaruError}.
 */
export type MaruErrorParameters = {
  /** Lines of detail shown under the short message (what was given, what is allowed). */
  details?: string[];
  /** Something the user can do about it. */
  fix?: string;
  /** The underlying error, kept on the cause chain. */
  cause?: unknown;
};

/**
 * The base of every error the client throws: a short message that says what went wrong,
 * optional details and a fix, and the cause chain. Catch `MaruError` to catch them all, or a
 * subclass to catch one kind.
 *
 * @example
 * ```ts
 * import { MaruError, shard } from "maru/client";
 * try {
 *   shard(key, r, 0);
 * } catch (e) {
 *   if (e instanceof MaruError) console.error(e.message); // "Sharding needs at least one worker ..."
 * }
 * ```
 */
export class MaruError extends Error {
  override name = "MaruError";
  /** The one-line summary, without details. */
  readonly shortMessage: string;
  /** The detail lines. */
  readonly details: string[];
  /** What to do about it, if anything. */
  readonly fix?: string;

  constructor(shortMessage: string, parameters: MaruErrorParameters = {}) {
    const lines = [shortMessage];
    if (parameters.details?.length) lines.push("", ...parameters.details.map((d) => `  ${d}`));
    if (parameters.fix) lines.push("", `Fix: ${parameters.fix}`);
    super(lines.join("\n"), parameters.cause === undefined ? undefined : { cause: parameters.cause });
    this.shortMessage = shortMessage;
    this.details = parameters.details ?? [];
    this.fix = parameters.fix;
  }
}
