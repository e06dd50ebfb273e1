// A real JSON-RPC chain node in a separate process for tests (anvil from npm, @foundry-rs/anvil).
// Hardhat's simulated network answers EIP-2935 history reads with a revert ("not supported in
// Hardhat yet"), so what needs the history contract runs here.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

export type ChainNode = { url: string; port: number; stop(): Promise<void> };

/** Starts anvil on 127.0.0.1 at a free-ish port (hardfork prague) and waits until it answers. */
export async function startAnvil(extraArgs: string[] = []): Promise<ChainNode> {
  const port = 21_000 + Math.floor(Math.random() * 20_000);
  const proc: ChildProcess = spawn(
    join(process.cwd(), "node_modules/.bin/anvil"),
    ["--host", "127.0.0.1", "--port", String(port), "--hardfork", "prague", "--silent", ...extraArgs],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    await new Promise((resolve) => proc.once("exit", resolve));
  };
  for (let i = 0; i < 100; ++i) {
    if (proc.exitCode !== null) break;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (res.ok) return { url, port, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`anvil did not start on ${url}: ${stderr.trim() || "no output"}`);
}
