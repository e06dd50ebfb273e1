// `maru-worker keys new`: a new staking key in an encrypted JSON keystore (the Web3 Secret Storage
// format ethers and geth read), for `--keystore`. The key exists only in that file: nothing is
// printed but the address.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { Wallet } from "ethers";
import { MaruError } from "../../client/index.js";

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  // readline echoes through _writeToOutput: write the question, swallow the typed characters.
  let asked = false;
  (rl as unknown as { _writeToOutput(s: string): void })._writeToOutput = (s: string) => {
    if (!asked) {
      asked = true;
      process.stdout.write(s);
    }
  };
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    process.stdout.write("\n");
  }
}

/** The keystore password: MARU_KEYSTORE_PASSWORD, or typed twice at a terminal. */
async function newPassword(): Promise<string> {
  const env = process.env.MARU_KEYSTORE_PASSWORD;
  if (env !== undefined) {
    if (env === "") throw new MaruError("MARU_KEYSTORE_PASSWORD is empty", { fix: "set a password" });
    return env;
  }
  if (!process.stdin.isTTY)
    throw new MaruError("MARU_KEYSTORE_PASSWORD is not set and there is no terminal to ask for it", {
      fix: "export MARU_KEYSTORE_PASSWORD, or run the command in a terminal",
    });
  const first = await promptHidden("keystore password: ");
  if (first === "") throw new MaruError("The password is empty", { fix: "type a password" });
  const again = await promptHidden("again: ");
  if (again !== first) throw new MaruError("The passwords differ", { fix: "run the command again" });
  return first;
}

/**
 * Creates a random staking key, encrypts it with a password into `file` (mode 0600) and returns
 * its address. Refuses to overwrite an existing file (it may hold the only copy of a key).
 * @example
 * ```ts
 * const address = await newKeystore(".maru/staking.json"); // password from MARU_KEYSTORE_PASSWORD or the terminal
 * ```
 */
export async function newKeystore(file: string): Promise<string> {
  const password = await newPassword();
  const wallet = Wallet.createRandom();
  const json = await wallet.encrypt(password);
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, json + "\n", { flag: "wx", mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new MaruError(`${file} exists: refusing to overwrite it`, {
        fix: "it may hold the only copy of a key: pick another file, or move it away first",
      });
    throw new MaruError(`Cannot write ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      fix: "pick a writable path",
    });
  }
  return wallet.address;
}
