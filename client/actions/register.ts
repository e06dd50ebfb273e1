import type { Protocol } from "../contracts.js";
import { send, type Sent } from "./send.js";

/**
 * Registers the signer as a worker: the hot key that signs its batch headers and the libp2p
 * multiaddr peers dial (UTF-8, ≤ 256 bytes).
 *
 * @example
 * ```ts
 * await register(maru, signingKey.address, "/ip4/203.0.113.7/tcp/9000/p2p/12D3Koo…");
 * ```
 */
export function register(p: Protocol, signingKey: string, networkAddress: string): Promise<Sent> {
  return send(() => p.epochs.register(signingKey, new TextEncoder().encode(networkAddress)), p.errorInterfaces);
}

/**
 * Rotates the signing key from the next epoch on (evidence signed with the old key stays
 * attributable for the epochs it was active).
 *
 * @example
 * ```ts
 * await rotateSigningKey(maru, newKey.address);
 * ```
 */
export function rotateSigningKey(p: Protocol, signingKey: string): Promise<Sent> {
  return send(() => p.epochs.rotateSigningKey(signingKey), p.errorInterfaces);
}

/**
 * Changes the network address peers dial.
 *
 * @example
 * ```ts
 * await setNetworkAddress(maru, "/ip4/203.0.113.8/tcp/9000");
 * ```
 */
export function setNetworkAddress(p: Protocol, networkAddress: string): Promise<Sent> {
  return send(() => p.epochs.setNetworkAddress(new TextEncoder().encode(networkAddress)), p.errorInterfaces);
}
