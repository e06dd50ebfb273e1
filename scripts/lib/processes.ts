// Real parts in separate processes, for the devnet and the tests: a JSON-RPC chain node (anvil from
// npm, @foundry-rs/anvil) and an Arweave-compatible gateway (arlocal from npm). Hardhat's simulated
// network answers EIP-2935 history reads with a revert ("not supported in Hardhat yet"), so what
// needs the history contract runs on anvil.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";

/** A process we started: where it answers, how to stop it, and `exited`, which settles when it ends (for any reason). */
export type ChainNode = { url: string; port: number; stop(): Promise<void>; exited: Promise<number | null> };
export type Gateway = ChainNode;

const exitOf = (proc: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    proc.exitCode !== null || proc.signalCode !== null ? resolve(proc.exitCode) : proc.once("exit", resolve),
  );

/** Whether nothing listens on 127.0.0.1:`port` (it binds and closes a server there to find out). */
export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
      .once("error", () => resolve(false))
      .once("listening", () => server.close(() => resolve(true)))
      .listen(port, "127.0.0.1");
  });
}

// Below Linux's ephemeral range (32768+), where libp2p and other clients get their ports.
const freePort = () => 10_000 + Math.floor(Math.random() * 20_000);

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 3_000);
  await exited;
  clearTimeout(timer);
}

async function waitUntilUp(proc: ChildProcess, probe: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 150; ++i) {
    if (proc.exitCode !== null) return false;
    try {
      if (await probe()) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * Starts anvil on 127.0.0.1 at a free-ish port, or `port` (hardfork prague), and waits until it
 * answers. Anvil writes the states it no longer holds in memory to disk, by default under
 * ~/.foundry/anvil/tmp, and leaves them there when it is stopped: runs of the tests left 78 GB and
 * filled CI's disk. Each anvil here gets its own cache folder, removed when it stops.
 */
export async function startAnvil(extraArgs: string[] = [], port = freePort()): Promise<ChainNode> {
  const cache = mkdtempSync(join(tmpdir(), "maru-anvil-"));
  const proc: ChildProcess = spawn(
    join(process.cwd(), "node_modules/.bin/anvil"),
    [
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--hardfork",
      "prague",
      "--silent",
      "--cache-path",
      cache,
      ...extraArgs,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const stop = async () => {
    await stopProcess(proc);
    rmSync(cache, { recursive: true, force: true });
  };
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const up = await waitUntilUp(proc, async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    return res.ok;
  });
  if (!up) {
    await stop();
    throw new Error(`anvil did not start on ${url}: ${stderr.trim() || "no output"}`);
  }
  return { url, port, stop, exited: exitOf(proc) };
}

/**
 * Starts arlocal (a local Arweave gateway) at a free-ish port, in a temporary working directory
 * with its own database (by default every arlocal shares one in the user's app-data directory, and
 * two at once refuse each other's uploads with HTTP 410).
 */
export async function startArlocal(port = freePort()): Promise<Gateway> {
  const cwd = mkdtempSync(join(tmpdir(), "maru-arlocal-"));
  const proc = spawn(
    process.execPath,
    [join(process.cwd(), "node_modules/arlocal/bin/index.js"), String(port), "--dbpath", "db", "--hidelogs"],
    { stdio: "ignore", cwd },
  );
  const url = `http://127.0.0.1:${port}`;
  if (!(await waitUntilUp(proc, async () => (await fetch(`${url}/info`)).ok))) {
    await stopProcess(proc);
    throw new Error(`arlocal did not start on ${url}`);
  }
  return {
    url,
    port,
    exited: exitOf(proc),
    stop: async () => {
      await stopProcess(proc);
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}
