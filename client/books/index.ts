import type { AddressesBook } from "../contracts.js";
import { UnknownDeploymentError } from "../errors/books.js";
import { knownBooks } from "./known.js";

// The error getBook throws, importable from here too (it is also in @maru/client/errors).
export { UnknownDeploymentError };

/**
 * The addresses books of the deployments this package knows, by chain id (client/books/<chainId>.json
 * in the repository). No public deployment exists yet: it is empty, and a tool passes its own book.
 *
 * @example
 * ```ts
 * const chains = Object.keys(booksByChainId); // [] until a testnet deployment ships in the package
 * ```
 */
export const booksByChainId: Readonly<Record<number, AddressesBook>> = Object.freeze(
  Object.fromEntries(knownBooks().map((b) => [b.chainId, b])),
);

/**
 * The addresses book of the deployment on `chainId`, or an {@link UnknownDeploymentError} that
 * names the chains the package knows.
 *
 * @example
 * ```ts
 * const provider = new JsonRpcProvider(rpcUrl);
 * const { chainId } = await provider.getNetwork();
 * const maru = connectProtocol(getBook(chainId), provider);
 * ```
 */
export function getBook(chainId: number | bigint): AddressesBook {
  const book = booksByChainId[Number(chainId)];
  if (!book) throw new UnknownDeploymentError(Number(chainId), Object.keys(booksByChainId).map(Number));
  return book;
}
export * from "./check.js";
