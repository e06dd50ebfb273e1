import { MaruError } from "./base.js";

/**
 * Thrown by getBook for a chain the package knows no deployment of.
 * @example
 * ```ts
 * try { getBook(11155111); } catch (e) { if (e instanceof UnknownDeploymentError) console.error(e.known); }
 * ```
 */
export class UnknownDeploymentError extends MaruError {
  override name = "UnknownDeploymentError";
  constructor(
    readonly chainId: number,
    /** The chain ids the package has addresses books for. */
    readonly known: number[],
  ) {
    super(`No deployment known for chain ${chainId}; pass your own addresses book.`, {
      details: [`chains this package knows: ${known.length ? known.join(", ") : "none"}`],
      fix: "load the book your deployment wrote (deployments/<chainId>.json, docs/deploy.md) and pass it to connectProtocol.",
    });
  }
}
