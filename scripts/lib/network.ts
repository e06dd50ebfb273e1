// Connecting a script to a network of hardhat.config.ts so that every way it can go wrong says
// what to do: no network named (Hardhat would silently run on its in-process chain, where nothing
// is deployed), a name that is not configured, a configuration variable not set, a node that does
// not answer. Shared by the governance CLI and the deploy scripts (scripts/deploy/lib.ts).
import hre, { network } from "hardhat";
import { MaruError } from "../../client/errors/base.js";

/** How a network is reached: its name in hardhat.config.ts and, optionally, another RPC URL. */
export type NetworkChoice = { name?: string; rpcUrl?: string };

/** The networks of hardhat.config.ts a script can use: every one but the in-process simulated ones. */
export function configuredNetworks(): string[] {
  return Object.entries(hre.config.networks)
    .filter(([, c]) => c.type === "http")
    .map(([name]) => name);
}

/** The RPC URL a network is configured with, or a phrase saying where it comes from when unset. */
async function configuredUrl(name: string): Promise<string> {
  const c = hre.config.networks[name];
  if (c?.type !== "http") return "(in-process)";
  try {
    return await c.url.get();
  } catch {
    return `(the configuration variable of ${name}'s url)`;
  }
}

/**
 * Connects to the network `choice.name` (with `choice.rpcUrl` instead of its configured URL, if
 * given) and checks that the node answers. Refuses no name, an unknown name and Hardhat's in-process
 * networks; a missing configuration variable and an unreachable node say how to fix them.
 *
 * @example
 * ```ts
 * const { connection, url } = await connectNetwork({ name: "sepolia" }, "npm run gov -- status --network sepolia");
 * ```
 */
export async function connectNetwork(choice: NetworkChoice, example = "--network localhost") {
  const known = configuredNetworks();
  if (!choice.name)
    throw new MaruError("No network given: without one, Hardhat runs an empty chain in this process.", {
      details: [`configured networks: ${known.join(", ")}`],
      fix: `name one: ${example}.`,
    });
  const config = hre.config.networks[choice.name];
  if (!config)
    throw new MaruError(`There is no network "${choice.name}" in hardhat.config.ts.`, {
      details: [`configured networks: ${known.join(", ")}`],
      fix: "use one of those names, or add the network to hardhat.config.ts.",
    });
  if (config.type !== "http")
    throw new MaruError(`"${choice.name}" is Hardhat's in-process chain: nothing is deployed there.`, {
      details: [`configured networks: ${known.join(", ")}`],
      fix: "name the network the contracts are on (a local node: --network localhost).",
    });
  let conn;
  try {
    conn = await network.create(
      choice.rpcUrl ? { network: choice.name, override: { url: choice.rpcUrl } } : { network: choice.name },
    );
  } catch (e) {
    missingVariable(choice.name, e);
    throw new MaruError(`Cannot use the network "${choice.name}": ${(e as Error).message.split("\n")[0]}`, {
      fix: "check its entry in hardhat.config.ts.",
      cause: e,
    });
  }
  const url = choice.rpcUrl ?? (await configuredUrl(choice.name));
  try {
    await conn.ethers.provider.getBlockNumber();
  } catch (e) {
    await conn.close().catch(() => {});
    missingVariable(choice.name, e);
    throw new MaruError(`The node of "${choice.name}" at ${url} does not answer.`, {
      details: [(e as Error).message.split("\n")[0]],
      fix:
        choice.name === "localhost" && !choice.rpcUrl
          ? "start one in another terminal: npm run chain (or npx hardhat node, or npx anvil)."
          : "check the RPC URL (the network's configuration variable, or --rpc-url) and that the node is up.",
      cause: e,
    });
  }
  return { connection: conn, url };
}

/**
 * Hardhat resolves configuration variables when a network is created or first used; unset, it
 * says so in one of two ways (no variable anywhere, or not in the development keystore that
 * `hardhat test` and `hardhat node` read).
 */
function missingVariable(name: string, e: unknown): void {
  const message = (e as Error).message;
  const variable = message.match(/Configuration Variable "(\w+)" not found/)?.[1];
  const devKey = message.match(/Key "(\w+)" not found in the development keystore/)?.[1];
  if (variable ?? devKey)
    throw new MaruError(`The network "${name}" needs ${variable ?? devKey}, which is not set.`, {
      fix: `npx hardhat keystore set ${variable ?? devKey}${devKey ? " --dev" : ""} (or export ${variable ?? devKey}=… in the environment); docs/deploy.md.`,
      cause: e,
    });
}
