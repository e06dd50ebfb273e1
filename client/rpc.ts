import { JsonRpcProvider, Network } from "ethers";
import { MaruError } from "./errors/base.js";

/**
 * Opens a JSON-RPC provider after asking the node its chain id once, with a time limit: an
 * unreachable URL becomes one error that names it, instead of ethers retrying forever and printing
 * "failed to detect network". The provider keeps that network (no detection per call) and no read
 * cache (ethers otherwise answers identical reads from a 250 ms cache, and two transactions in a
 * row would take the same nonce). `pollMs` is how often it looks for a new block while it waits
 * for a transaction (`tx.wait()`): ethers' default is 4 s, so a tool or worker that polls faster
 * would otherwise learn of its own mined transaction up to 4 s late.
 *
 * @example
 * ```ts
 * const { provider, chainId } = await openRpc("http://127.0.0.1:8545");
 * ```
 */
export async function openRpc(
  url: string,
  o: { timeoutMs?: number; fix?: string; pollMs?: number } = {},
): Promise<{ provider: JsonRpcProvider; chainId: number }> {
  const timeoutMs = o.timeoutMs ?? 5_000;
  let chainId: number;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const body = (await res.json()) as { result?: string; error?: { message?: string } };
    if (typeof body.result !== "string") throw new Error(body.error?.message ?? "no chain id in the answer");
    chainId = Number(body.result);
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } };
    const why =
      err.name === "TimeoutError"
        ? `no answer in ${timeoutMs / 1000} s`
        : (err.cause?.code ?? err.cause?.errors?.[0]?.code ?? err.cause?.message ?? err.message.split("\n")[0]);
    throw new MaruError(`Cannot reach the chain node at ${url} (${why})`, {
      fix: o.fix ?? "check the URL: a JSON-RPC node of the deployment's chain",
    });
  }
  const provider = new JsonRpcProvider(url, Network.from(chainId), {
    staticNetwork: true,
    cacheTimeout: -1,
    ...(o.pollMs === undefined ? {} : { pollingInterval: o.pollMs }),
  });
  return { provider, chainId };
}
