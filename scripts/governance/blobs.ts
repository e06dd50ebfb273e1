// An operator's blobs (definition, bytecode) on their way to the registry: uploaded once per
// network, recorded in a lock file keyed by network (Arweave mainnet for every public gateway, the
// gateway itself for a local one), and checked on the gateway against the hash
// the registry will hold, the way a worker checks them (keccak256 of the bytes served at
// <gateway>/<id>, client/registry/syncGraph.ts), before anything is scheduled or proposed.
import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { keccak256, ZeroHash } from "ethers";
import { MaruError } from "../../client/errors/base.js";
import { arweaveIdToBytes32 } from "../../client/arweave/ids.js";
import { isLocalGateway, uploadBlob, type Gateway } from "./arweave.js";
import type { Manifest } from "./manifest.js";

export type { Gateway };

/** A blob as the registry will record it. `txId` is zero when `--dry-run` left it un-uploaded. */
export type ResolvedBlob = {
  hash: string;
  /** bytes32 of the Arweave id (ZeroHash: not uploaded yet, dry-run). */
  txId: string;
  arweaveId?: string;
  /** Whether the gateway served it and its keccak256 is `hash`. */
  verified: boolean;
};

/** Arweave ids per network (lockKey), per keccak256 of the blob. */
type LockFile = Record<string, Record<string, string>>;

/** The lock key of every public gateway: they all serve Arweave mainnet, where an id is valid everywhere. */
export const ARWEAVE_MAINNET = "arweave-mainnet";

/**
 * The network a gateway's ids belong to, as the lock file keys it: Arweave mainnet for every public
 * gateway (arweave.net, ar-io.net, g8way.io… serve the same transactions, so switching between
 * them re-uploads nothing), the gateway's origin for a local one (arlocal's ids are its own).
 */
export function lockKey(gatewayUrl: string): string {
  return isLocalGateway(gatewayUrl) ? new URL(gatewayUrl).origin : ARWEAVE_MAINNET;
}

/**
 * A lock file's content with every entry under its network: entries the earlier format keyed by a
 * public gateway's origin (`https://arweave.net`) are Arweave mainnet's and are merged into it.
 */
export function normalizeLock(raw: Record<string, unknown>): { lock: LockFile; moved: string[] } {
  const lock: LockFile = {};
  const moved: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === "string") {
      // The first format had no gateway: its ids may be arlocal's, so they are kept aside, never reused.
      (lock["(gateway unknown)"] ??= {})[key] = value;
      continue;
    }
    let target = key;
    if (/^https?:\/\//.test(key) && lockKey(key) === ARWEAVE_MAINNET) {
      target = ARWEAVE_MAINNET;
      moved.push(key);
    }
    Object.assign((lock[target] ??= {}), value as Record<string, string>);
  }
  return { lock, moved };
}

/**
 * Where the ids of `gateway` are recorded: `<manifest>.lock.json` for public gateways (committed
 * with the manifest: the ids are permanent and cost AR to make), `<manifest>.local.lock.json` for
 * local ones (arlocal's ids die with it; that file is git-ignored).
 */
export function lockFileFor(manifestPath: string, gatewayUrl: string): string {
  return isLocalGateway(gatewayUrl) ? `${manifestPath}.local.lock.json` : `${manifestPath}.lock.json`;
}

async function readLock(file: string, log: (l: string) => void): Promise<LockFile> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return {};
  const { lock, moved } = normalizeLock(JSON.parse(text) as Record<string, unknown>);
  if (lock["(gateway unknown)"]) log(`  ${file}: entries without a gateway are kept but not reused`);
  if (moved.length)
    log(`  ${file}: the ids recorded for ${moved.join(", ")} are Arweave mainnet's, valid on every public gateway`);
  return lock;
}

/** Downloads `<gateway>/<id>` as a worker does; undefined with the reason when the gateway does not serve it. */
async function download(gateway: string, arweaveId: string): Promise<{ bytes?: Uint8Array; reason?: string }> {
  const url = `${gateway.replace(/\/+$/, "")}/${arweaveId}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    if (res.status !== 200) return { reason: `HTTP ${res.status} from ${url}` };
    return { bytes: new Uint8Array(await res.arrayBuffer()) };
  } catch (e) {
    return { reason: `${url}: ${(e as Error).message}` };
  }
}

/**
 * Resolves the manifest's definition and bytecode to what the registry records (keccak256, Arweave
 * id). A file is uploaded unless the lock file has its id for this gateway's network (never with
 * `upload: false`, the dry run: its id is then zero, and the operation not final). Every id is then downloaded from the
 * gateway and its keccak256 compared with the hash to register: a blob the workers could not fetch,
 * or whose bytes are not the registered ones, is refused with both hashes.
 */
export async function resolveBlobs(o: {
  manifestPath: string;
  manifest: Manifest & { baseDir: string };
  gateway: Gateway;
  upload: boolean;
  log: (line: string) => void;
}): Promise<{ definition: ResolvedBlob; bytecode: ResolvedBlob }> {
  const origin = new URL(o.gateway.url).origin;
  const lockPath = lockFileFor(o.manifestPath, o.gateway.url);
  const lock = await readLock(lockPath, o.log);
  const ids = (lock[lockKey(o.gateway.url)] ??= {});
  let changed = false;

  const one = async (kind: "definition" | "bytecode"): Promise<ResolvedBlob> => {
    const blob = o.manifest[kind];
    if ("arweaveId" in blob) {
      await verify(kind, blob.arweaveId, blob.hash.toLowerCase(), `the manifest's ${kind}.arweaveId`);
      return {
        hash: blob.hash.toLowerCase(),
        txId: arweaveIdToBytes32(blob.arweaveId),
        arweaveId: blob.arweaveId,
        verified: true,
      };
    }
    const path = resolve(o.manifest.baseDir, blob.path);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new MaruError(`Cannot read the blob ${path} named in ${o.manifestPath}.`, {
        fix: "check the path (relative to the manifest); operators/build is made by `npm run build:operators`.",
        cause,
      });
    }
    const hash = keccak256(bytes);
    let id: string | undefined = ids[hash];
    if (id) {
      const served = await download(o.gateway.url, id);
      if (!served.bytes) {
        if (!isLocalGateway(o.gateway.url))
          throw new MaruError(
            `${lockPath} records ${blob.path} as ${id} on Arweave, and ${origin} does not serve it.`,
            {
              details: [served.reason ?? ""],
              fix: "a new upload is served once it is mined (minutes): run the command again then; to upload it again instead, remove the entry.",
            },
          );
        o.log(
          `  ${blob.path}: ${id} is gone from ${origin} (arlocal restarted?): ${o.upload ? "uploading it again" : "it would be uploaded again"}`,
        );
        delete ids[hash];
        changed = true;
        id = undefined;
      }
    }
    if (!id) {
      if (!o.upload) {
        o.log(
          `  would upload ${blob.path} (${bytes.length} bytes, keccak256 ${hash}) to ${origin}; its id is not known until then`,
        );
        return { hash, txId: ZeroHash, verified: false };
      }
      id = await uploadBlob(o.gateway, bytes);
      ids[hash] = id;
      changed = true;
      await writeFile(lockPath, JSON.stringify(lock, null, 2) + "\n"); // an upload costs AR: record it at once
      o.log(`  uploaded ${blob.path} (${bytes.length} bytes, keccak256 ${hash}) as ${id}, recorded in ${lockPath}`);
    }
    await verify(kind, id, hash, blob.path);
    return { hash, txId: arweaveIdToBytes32(id), arweaveId: id, verified: true };
  };

  const verify = async (kind: string, arweaveId: string, expected: string, what: string) => {
    const served = await download(o.gateway.url, arweaveId);
    if (!served.bytes)
      throw new MaruError(`The gateway ${origin} does not serve the ${kind} ${arweaveId} (${what}).`, {
        details: [served.reason ?? ""],
        fix: "workers could not fetch it: wait until the upload is mined and run the command again, or fix the id; nothing was scheduled.",
      });
    const actual = keccak256(served.bytes);
    if (actual !== expected)
      throw new MaruError(`The ${kind} ${arweaveId} on ${origin} is not the blob to register (${what}).`, {
        details: [
          `the manifest's hash:      ${expected}`,
          `keccak256 of the served: ${actual} (${served.bytes.length} bytes)`,
        ],
        fix: "workers would refuse it (BlobHashMismatchError): give the hash of the uploaded bytes, or the id of the right blob; nothing was scheduled.",
      });
    o.log(`  ${kind} ${arweaveId}: served by ${origin}, keccak256 ${actual} as registered`);
  };

  const definition = await one("definition");
  const bytecode = await one("bytecode");
  if (changed && o.upload) await writeFile(lockPath, JSON.stringify(lock, null, 2) + "\n");
  return { definition, bytecode };
}
