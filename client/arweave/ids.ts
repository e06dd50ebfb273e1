import { getBytes, hexlify } from "ethers";
import { ArweaveIdError } from "../errors/registry.js";

const BASE64URL = /^[A-Za-z0-9_-]{43}$/;

/**
 * An Arweave transaction id (43 characters of base64url) as the 32 raw bytes the registry stores.
 * @param id The transaction id, as gateways and wallets print it.
 * @returns 0x-prefixed bytes32.
 * @example
 * ```ts
 * arweaveIdToBytes32("QKmvFezpZF-50TYPzXPBPCQbzkbE1cUdwFqR16wjaTE"); // "0x40a9af15…"
 * ```
 */
export function arweaveIdToBytes32(id: string): string {
  if (typeof id !== "string" || !BASE64URL.test(id)) {
    throw new ArweaveIdError(
      String(id),
      typeof id === "string" ? `expected 43 base64url characters, got ${id.length} characters` : "not a string",
    );
  }
  const bytes = Buffer.from(id, "base64url");
  // 43 characters carry 258 bits: the last 2 must be zero for the id to be canonical.
  if (bytes.length !== 32 || Buffer.from(bytes).toString("base64url") !== id) {
    throw new ArweaveIdError(id, "not the canonical encoding of 32 bytes");
  }
  return hexlify(bytes);
}

/**
 * The Arweave transaction id of 32 raw bytes from the registry.
 * @example
 * ```ts
 * bytes32ToArweaveId(record.bytecodeTxId); // "QKmvFezpZF-50TYPzXPBPCQbzkbE1cUdwFqR16wjaTE"
 * ```
 */
export function bytes32ToArweaveId(value: string): string {
  let bytes: Uint8Array;
  try {
    bytes = getBytes(value);
  } catch {
    throw new ArweaveIdError(String(value), "not hex bytes");
  }
  if (bytes.length !== 32) throw new ArweaveIdError(value, `expected 32 bytes, got ${bytes.length}`);
  return Buffer.from(bytes).toString("base64url");
}
