// Uploading blobs to an Arweave gateway: arlocal on local chains (throwaway key, minted tokens),
// a real gateway with a wallet file (JWK) on testnets.
import { readFile } from "node:fs/promises";
import Arweave from "arweave";
import type { JWKInterface } from "arweave/node/lib/wallet.js";
import { MaruError } from "../../client/errors/base.js";

export type Gateway = { url: string; wallet?: string };

function client(url: string): Arweave {
  const u = new URL(url);
  return Arweave.init({
    host: u.hostname,
    port: Number(u.port || (u.protocol === "https:" ? 443 : 80)),
    protocol: u.protocol.replace(":", ""),
  });
}

/** arlocal and other gateways on this machine: their ids are throwaway. */
export function isLocalGateway(url: string): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
}

/** Uploads `data` and returns its transaction id (base64url). On arlocal it also mines the block. */
export async function uploadBlob(gateway: Gateway, data: Uint8Array): Promise<string> {
  const ar = client(gateway.url);
  let key: JWKInterface;
  if (gateway.wallet) {
    try {
      key = JSON.parse(await readFile(gateway.wallet, "utf8")) as JWKInterface;
    } catch (cause) {
      throw new MaruError(`Cannot read the Arweave wallet ${gateway.wallet}.`, {
        fix: "pass a JWK wallet file with --wallet.",
        cause,
      });
    }
  } else if (isLocalGateway(gateway.url)) {
    key = await ar.wallets.generate();
    await ar.api.get(`mint/${await ar.wallets.jwkToAddress(key)}/1000000000000000`);
  } else {
    throw new MaruError(`Uploading to ${gateway.url} needs a funded wallet.`, {
      fix: "pass --wallet path/to/arweave-key.json.",
    });
  }
  try {
    const tx = await ar.createTransaction({ data }, key);
    tx.addTag("Content-Type", "application/octet-stream");
    tx.addTag("App-Name", "maru");
    await ar.transactions.sign(tx, key);
    const res = await ar.transactions.post(tx);
    if (res.status >= 300) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    if (isLocalGateway(gateway.url)) await ar.api.get("mine");
    return tx.id;
  } catch (cause) {
    throw new MaruError(`Uploading to the Arweave gateway ${gateway.url} failed.`, {
      fix: "check the gateway URL and the wallet's balance (arlocal: `npx arlocal 1984`).",
      cause,
    });
  }
}
