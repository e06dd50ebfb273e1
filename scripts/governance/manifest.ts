// The operator manifest: what a governance member writes to register an operator (JSON or YAML).
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { id as keccakText, isHexString } from "ethers";
import { MaruError } from "../../client/errors/base.js";

const bytes32 = z.string().refine((s) => isHexString(s, 32), "must be 0x followed by 64 hex digits (32 bytes)");
/** A stream is named by a string (its id is keccak256 of the UTF-8 name) or given as a bytes32 id. */
const streamRef = z.string().min(1, "must not be empty");
const blob = z.union([
  z.object({ path: z.string().min(1, "must not be empty") }).strict(),
  z
    .object({ arweaveId: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be 43 base64url characters"), hash: bytes32 })
    .strict(),
]);
const partition = z.union([
  z.object({ kind: z.literal("WHOLE") }).strict(),
  z
    .object({
      kind: z.literal("SLICE"),
      offset: z
        .number()
        .int()
        .min(0)
        .max(2 ** 32 - 1),
      length: z
        .number()
        .int()
        .min(1)
        .max(2 ** 32 - 1),
    })
    .strict(),
]);

/** The manifest schema. `outputs` may declare new DERIVED streams (schema + partition) to register first. */
export const ManifestSchema = z
  .object({
    name: z
      .string()
      .min(1, "must not be empty")
      .refine((s) => Buffer.byteLength(s) <= 24, "must be at most 24 bytes")
      .refine((s) => !s.includes("\u0000"), "must not contain a zero byte"),
    version: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    inputs: z.array(streamRef).min(1, "needs at least one input stream"),
    outputs: z
      .array(z.union([streamRef, z.object({ stream: streamRef, schema: z.string().min(1), partition }).strict()]))
      .min(1, "needs at least one output stream"),
    definition: blob,
    bytecode: blob,
  })
  .strict()
  .refine((m) => m.inputs.length + m.outputs.length <= 8, {
    message: "at most 8 streams in all (inputs + outputs)",
    path: ["outputs"],
  });

export type Manifest = z.infer<typeof ManifestSchema>;

/** A refused manifest: every problem with the path of the field it concerns. */
export class ManifestError extends MaruError {
  override name = "ManifestError";
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`The manifest ${file} is not valid.`, {
      details: problems,
      fix: "correct the fields above; docs/governance.md shows a complete manifest.",
    });
  }
}

/** The bytes32 id of a stream reference. */
export function streamId(ref: string): string {
  return isHexString(ref, 32) ? ref.toLowerCase() : keccakText(ref);
}

/** The schema hash of an output declaration: a bytes32 as is, else keccak256 of the text. */
export function schemaHash(schema: string): string {
  return isHexString(schema, 32) ? schema.toLowerCase() : keccakText(schema);
}

/** Reads and validates a JSON or YAML manifest; blob paths resolve relative to the manifest. */
export async function loadManifest(file: string): Promise<Manifest & { baseDir: string }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    throw new MaruError(`Cannot read the manifest ${file}.`, { fix: "check the --manifest path.", cause });
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (cause) {
    throw new ManifestError(file, [
      `it is not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"}: ${(cause as Error).message}`,
    ]);
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ManifestError(
      file,
      parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`),
    );
  }
  return { ...parsed.data, baseDir: dirname(resolve(file)) };
}
