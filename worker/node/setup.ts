// What the worker and its operator commands (status, stake, …) share: the staking key, the
// addresses book, --config, and a provider checked against the book's chain. One place, so a flag
// or an environment variable means the same thing to `maru-worker` and `maru-worker stake`.
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import type { Command } from "commander";
import JSON5 from "json5";
import { Wallet, type HDNodeWallet, type JsonRpcProvider } from "ethers";
import { openRpc } from "../../client/rpc.js";
import { checkBook } from "../../client/books/check.js";
import { MaruError, type AddressesBook } from "../../client/index.js";

/**
 * Options from `--config` (a JSON/JSON5 object keyed by camelCase option names) for every option
 * of `cmd` not given on the command line.
 * @example
 * ```ts
 * const opts = withConfig(program, program.parse().opts());
 * ```
 */
export function withConfig<T extends { config?: string }>(cmd: Command, opts: T): T {
  if (!opts.config) return opts;
  let config: Record<string, unknown>;
  try {
    config = JSON5.parse(readFileSync(opts.config, "utf8"));
  } catch (e) {
    throw new MaruError(`Cannot read the config file ${opts.config}: ${(e as Error).message}`, {
      fix: "pass a JSON or JSON5 object whose keys are option names, e.g. { rpc: 'http://…', pollMs: 500 }",
    });
  }
  const known = new Set(cmd.options.map((o) => o.attributeName()));
  const merged = { ...opts } as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) {
    if (!known.has(key)) {
      throw new MaruError(`Unknown option "${key}" in ${opts.config}`, {
        fix: `use the camelCase name of a flag: ${[...known].join(", ")}`,
      });
    }
    if (cmd.getOptionValueSource(key) !== "cli") merged[key] = typeof value === "number" ? String(value) : value;
  }
  return merged as T;
}

/**
 * The staking key: `--keystore FILE` with MARU_KEYSTORE_PASSWORD, else MARU_WORKER_KEY. Keys never
 * come from a flag (a flag is visible in `ps` and shell history).
 * @example
 * ```ts
 * const wallet = (await stakingKey(opts.keystore)).connect(provider);
 * ```
 */
export async function stakingKey(keystore: string | undefined): Promise<Wallet | HDNodeWallet> {
  if (keystore) {
    const password = process.env.MARU_KEYSTORE_PASSWORD;
    if (password === undefined)
      throw new MaruError("MARU_KEYSTORE_PASSWORD is not set", { fix: "export the keystore's password" });
    let json: string;
    try {
      json = readFileSync(keystore, "utf8");
    } catch (e) {
      throw new MaruError(`Cannot read the keystore ${keystore} (${(e as NodeJS.ErrnoException).code ?? "error"})`, {
        fix: "check --keystore, or create one with `maru-worker keys new --keystore FILE`",
      });
    }
    try {
      return await Wallet.fromEncryptedJson(json, password);
    } catch (e) {
      throw new MaruError(`Cannot open the keystore ${keystore}: ${(e as Error).message.split("\n")[0]}`, {
        fix: "check the file and MARU_KEYSTORE_PASSWORD",
      });
    }
  }
  const key = process.env.MARU_WORKER_KEY;
  if (!key)
    throw new MaruError("MARU_WORKER_KEY is not set", {
      fix: "export the staking account's private key as MARU_WORKER_KEY, or pass --keystore",
    });
  try {
    return new Wallet(key);
  } catch {
    throw new MaruError("MARU_WORKER_KEY is not a private key", { fix: "a 0x-prefixed 32-byte hex string" });
  }
}

/**
 * The deployment's addresses book (deployments/<chainId>.json).
 * @example
 * ```ts
 * const book = readBook("deployments/11155111.json");
 * ```
 */
export function readBook(file: string): AddressesBook {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as AddressesBook;
  } catch (e) {
    throw new MaruError(`Cannot read the addresses book ${file}`, {
      cause: e,
      fix: "deploy first (npm run deploy:local), or pass the deployment's deployments/<chainId>.json",
    });
  }
}

/** `--rpc` and `--addresses`, both required, from flags or --config. */
export function requireChainOptions(opts: { rpc?: string; addresses?: string }): { rpc: string; addresses: string } {
  if (!opts.rpc || !opts.addresses) {
    throw new MaruError(`${!opts.rpc ? "--rpc" : "--addresses"} is required`, {
      fix: "give it as a flag or in --config",
    });
  }
  return { rpc: opts.rpc, addresses: opts.addresses };
}

/**
 * A provider for `rpc` that answered within 5 s, on the book's chain, where the book's contracts
 * hold code (a restarted local node has none). Destroy it when done.
 * @example
 * ```ts
 * const { provider, chainId } = await connectChain(opts.rpc, book, "deployments/31337.json");
 * ```
 */
export async function connectChain(
  rpc: string,
  book: AddressesBook,
  file?: string,
  /** How often to look for a new block while waiting for a transaction (the worker's --poll-ms). */
  pollMs?: number,
): Promise<{ provider: JsonRpcProvider; chainId: number }> {
  const { provider, chainId } = await openRpc(rpc, {
    fix: "check --rpc: the URL of a JSON-RPC node of the deployment's chain",
    pollMs,
  });
  try {
    await checkBook(provider, book, { file, where: `--rpc ${rpc}` });
  } catch (e) {
    provider.destroy();
    throw e;
  }
  return { provider, chainId };
}

/**
 * An error as the one line the CLI prints: the short message, its details, and what to fix. No
 * stack trace; an error that is not a MaruError shows its first line.
 * @example
 * ```ts
 * process.stderr.write(`maru-worker: ${oneLine(e)}\n`);
 * ```
 */
export function oneLine(e: unknown): string {
  if (e instanceof MaruError) {
    const details = e.details.length ? ` (${e.details.map((d) => d.trim()).join("; ")})` : "";
    return `${e.shortMessage}${details}${e.fix ? ` — fix: ${e.fix}` : ""}`;
  }
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/**
 * A time option in milliseconds (--poll-ms, --grace-ms, --per-delta-ms), or an error that names it:
 * `Number("abc")` would otherwise become a busy loop (setTimeout(NaN) fires at once).
 * @example
 * ```ts
 * milliseconds("--poll-ms", "1000"); // 1000
 * ```
 */
export function milliseconds(flag: string, value: string | number): number {
  const n = String(value).trim() === "" ? NaN : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3_600_000)
    throw new MaruError(`${flag} ${value} is not a time in milliseconds from 1 to 3600000`, {
      fix: `give a whole number of milliseconds, e.g. ${flag} 1000`,
    });
  return n;
}

/**
 * The environment a worker is started with (`npm run worker`, the devnet). glibc's malloc gives
 * the threads that allocate their own arenas, up to eight per core, and a worker's threads (V8's
 * compiler and collectors, libuv's pool, the operator thread) each kept some megabytes in theirs.
 * Two arenas cut a busy worker's peak by about 20 MiB at no measured CPU cost
 * (docs/PERFORMANCE.md). glibc reads it once at start-up, so the worker cannot set it on itself.
 */
export const WORKER_ENV = { MALLOC_ARENA_MAX: "2" } as const;

/**
 * Whether this process runs on glibc, the only C library that reads {@link WORKER_ENV}. Node's
 * report names the glibc it runs on; the report leaves out the network, whose open sockets it
 * would otherwise resolve to host names, synchronously (seconds without a reverse DNS record).
 */
export function onGlibc(): boolean {
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
  if (process.platform !== "linux" || !report) return false;
  const excluded = report.excludeNetwork;
  report.excludeNetwork = true;
  try {
    const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
    return Boolean(header?.glibcVersionRuntime);
  } finally {
    report.excludeNetwork = excluded;
  }
}

/**
 * What of {@link WORKER_ENV} `env` lacks: each missing variable with the value it should have.
 * Nothing without glibc (musl, macOS), where the variables do nothing (`glibc` is asked only when
 * something is missing).
 */
export function missingWorkerEnv(env: NodeJS.ProcessEnv = process.env, glibc: () => boolean = onGlibc): string[] {
  const missing = Object.entries(WORKER_ENV)
    .filter(([k]) => !env[k])
    .map(([k, v]) => `${k}=${v}`);
  return missing.length > 0 && glibc() ? missing : [];
}

/**
 * Caps how far V8 lets the JavaScript heap grow past what survived its last full collection, in
 * percent (0 keeps V8's own policy). V8 lets a program that allocates fast grow the heap to up to
 * four times its live size before collecting again, and a worker under load allocates fast: its
 * peak resident memory was mostly garbage waiting for a collection (docs/PERFORMANCE.md). A cap of
 * 40% kept four workers under 300 MiB each at 30,000 deltas an epoch for about a tenth more CPU.
 * Unlike --max-old-space-size it is no limit: the heap still grows as far as the live data needs.
 */
export function capHeapGrowth(percent: string | number): number {
  const n = String(percent).trim() === "" ? NaN : Number(percent);
  if (!Number.isInteger(n) || n < 0 || n > 1000)
    throw new MaruError(`--heap-growth ${percent} is not a percentage from 0 to 1000`, {
      fix: "give a whole number: 40 (the default) keeps the peak memory low, 0 leaves V8's own policy",
    });
  // A V8 flag the heap controller reads at every collection, so setting it at run time takes effect.
  if (n > 0) setFlagsFromString(`--heap-growing-percent=${n}`);
  return n;
}
