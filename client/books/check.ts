import type { Provider } from "ethers";
import { MaruError } from "../errors/base.js";

/**
 * Checks an addresses book against the chain a provider is on, before anything reads or sends:
 * the book's chain id is the node's, and every contract it names holds code (a local node restarted
 * since the deployment is a new chain with the same id and no contracts). Throws a MaruError that
 * says which, and how to fix it; otherwise returns the chain id.
 *
 * @example
 * ```ts
 * await checkBook(provider, book, { file: "deployments/11155111.json", where: "--rpc https://…" });
 * ```
 */
export async function checkBook(
  provider: Provider,
  book: { chainId?: number; contracts: Record<string, string | undefined> },
  o: { file?: string; where?: string } = {},
): Promise<number> {
  const file = o.file ?? "the addresses book";
  const where = o.where ?? "the node";
  const chainId = Number((await provider.getNetwork()).chainId);
  if (book.chainId !== undefined && book.chainId !== chainId)
    throw new MaruError(`The addresses book ${file} is for chain ${book.chainId}, but ${where} is chain ${chainId}.`, {
      fix: `pass the book of chain ${chainId} (deployments/${chainId}.json), or the RPC/network of chain ${book.chainId}.`,
    });
  const entries = Object.entries(book.contracts).filter((e): e is [string, string] => typeof e[1] === "string");
  const codes = await Promise.all(entries.map(([, at]) => provider.getCode(at)));
  const empty = entries.filter((_, i) => codes[i] === "0x").map(([name, at]) => `no code at ${name} ${at}`);
  if (empty.length)
    throw new MaruError(
      `The addresses book ${file} names contracts that have no code on chain ${chainId} (${where}).`,
      {
        details: empty,
        fix:
          chainId === 31337
            ? "the local node was restarted since the deployment: deploy again (npm run deploy:local) and use the book it writes."
            : "the book is not this deployment's: pass the book the deploy wrote for this chain.",
      },
    );
  return chainId;
}
