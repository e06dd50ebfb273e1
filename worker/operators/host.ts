// Runs a registered operator's WebAssembly bytecode sandboxed: its own thread with a small JS heap,
// one bounded memory (declared in the module, checked before it runs and again after every call),
// bounded tables, and a time budget per delta. A failing operator is an OperatorError for the
// caller, never a crash of the worker. docs/operators.md.
import { MaruError } from "../../client/errors/base.js";
import { dataLength, type Delta } from "../../client/math/lthash.js";
import { OperatorThread, type Failure, type ThreadReply } from "./pool.js";

/** An operator failed: it trapped, ran out of memory or time, or is not a valid operator module. */
export class OperatorError extends MaruError {
  override name = "OperatorError";
  /**
   * The instance was lost with its thread, which stopped for another instance's overrun (or its
   * glue ran out of heap): no fault of this operator, so a restart may share a thread again.
   */
  lostWithThread = false;
}

/** The default caps: 256 pages of 64 KiB = 16 MiB of memory, and table elements. */
export const DEFAULT_MAX_MEMORY_PAGES = 256;
export const DEFAULT_MAX_TABLE_ELEMENTS = 100_000;
/**
 * How long a thread may take to compile and instantiate its module: a start function that never
 * returns would otherwise hang `OperatorHost.start` (and the worker's epoch) for ever.
 */
const START_BUDGET_MS = 5_000;
/**
 * The fixed part of a request's time budget. 500 ms stopped honest operators when four workers and
 * a chain node shared two cores at 30,000 deltas an epoch (the thread itself was waiting for a core).
 */
export const RUN_ALLOWANCE_MS = 2_000;
/**
 * What one request (a chunk of at most CHUNK_DELTAS deltas) may produce: each record becomes an
 * object on the worker's main thread. About what the thread's old 64 MiB heap allowed.
 */
export const MAX_OUTPUT_RECORDS = 262_144;
export const MAX_OUTPUT_BYTES = 32 << 20;
const OUTPUT_CAPS = { maxOutputRecords: MAX_OUTPUT_RECORDS, maxOutputBytes: MAX_OUTPUT_BYTES };
/**
 * The most deltas (and input bytes) sent to the thread at once: a whole epoch's source deltas in one
 * message, and their outputs, would not fit that heap (100 000 transfers do not).
 */
const CHUNK_DELTAS = 2048;
const CHUNK_BYTES = 4 << 20;

/** The limits of a memory or table, as the binary states them (memories in 64 KiB pages). */
export interface Limits {
  min: number;
  /** Undefined: no maximum, the module may grow it as far as the engine lets it. */
  max?: number;
  /** Flag 0x02: a shared memory (threads proposal). */
  shared: boolean;
  /** Flag 0x04: 64-bit addresses (memory64 / table64). Values above 2^53 are approximate. */
  is64: boolean;
}

/** A memory or table the module imports (`import` names it: "module.name") or declares. */
export interface Found extends Limits {
  import?: string;
}

/** What {@link inspectModule} found: every memory and table, imported ones first (index order). */
export interface ModuleInspection {
  memories: Found[];
  tables: Found[];
}

/** The caps a module is checked against; see {@link checkModule}. */
export interface SandboxCaps {
  /** Largest memory maximum accepted, in 64 KiB pages (default 256 = 16 MiB). */
  maxMemoryPages?: number;
  /** Largest table maximum accepted, in elements (default 100 000). */
  maxTableElements?: number;
}

const notAModule = (why: string, cause?: unknown) =>
  new OperatorError("The operator's bytecode is not a WebAssembly module", {
    details: [why],
    fix: "register the .wasm file the compiler produced (binary format, version 1), complete and unmodified",
    cause,
  });

/** A bounds-checked cursor over hostile bytes: every read past `end` is a refusal, not garbage. */
class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    public at: number,
    readonly end: number,
  ) {}

  byte(): number {
    if (this.at >= this.end) throw notAModule(`truncated at byte ${this.at}`);
    return this.bytes[this.at++];
  }

  /** Unsigned LEB128 of at most `bits` bits (32 or 64); as a number, exact up to 2^53. */
  unsigned(bits: 32 | 64): number {
    const start = this.at;
    const maxBytes = Math.ceil(bits / 7);
    let value = 0;
    for (let i = 0; i < maxBytes; ++i) {
      const b = this.byte();
      // Multiplication, not shifts: bitwise operators would wrap at 32 bits.
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        if (bits === 32 && value > 0xffffffff) throw notAModule(`u32 out of range at byte ${start}`);
        return value;
      }
    }
    throw notAModule(`LEB128 longer than ${maxBytes} bytes at byte ${start}`);
  }

  u32(): number {
    return this.unsigned(32);
  }

  /** A signed LEB128 of at most 33 bits (a heap type), skipped. */
  skipS33(): void {
    const start = this.at;
    for (let i = 0; i < 5; ++i) if ((this.byte() & 0x80) === 0) return;
    throw notAModule(`LEB128 longer than 5 bytes at byte ${start}`);
  }

  skip(n: number): void {
    if (n > this.end - this.at) throw notAModule(`truncated at byte ${this.at} (${n} more bytes expected)`);
    this.at += n;
  }

  name(): string {
    const len = this.u32();
    const start = this.at;
    this.skip(len);
    return new TextDecoder().decode(this.bytes.subarray(start, start + len));
  }

  /** A value or reference type: one byte, or 0x63/0x64 (nullable/non-null ref) and a heap type. */
  skipType(): void {
    const t = this.byte();
    if (t === 0x63 || t === 0x64) this.skipS33();
  }

  limits(what: string): Limits {
    const at = this.at;
    const flags = this.byte();
    if (flags & ~0x07) {
      // 0x08 is custom page sizes: pages would no longer be 64 KiB, and the caps count 64 KiB pages.
      throw new OperatorError(
        `The operator's ${what} uses limits flags 0x${flags.toString(16).padStart(2, "0")} (byte ${at}), which the sandbox does not know`,
        { fix: "build it with the default page size and without newer memory/table proposals" },
      );
    }
    const is64 = (flags & 0x04) !== 0;
    const min = this.unsigned(is64 ? 64 : 32);
    const max = flags & 0x01 ? this.unsigned(is64 ? 64 : 32) : undefined;
    return { min, max, shared: (flags & 0x02) !== 0, is64 };
  }
}

/**
 * Reads every memory and table a module imports or declares, from its binary (import, table and
 * memory sections; other sections are skipped by their size). Throws {@link OperatorError} for a
 * truncated or malformed module, and for a table with an initializer expression (encoding
 * `0x40 0x00`): the sandbox does not parse constant expressions, and operators need no such table.
 * It does not validate the rest of the module: {@link checkModule} does, with the engine.
 */
export function inspectModule(bytes: Uint8Array): ModuleInspection {
  try {
    return inspect(bytes);
  } catch (e) {
    // Hostile input: whatever slipped past the bounds checks must still be a refusal.
    if (e instanceof OperatorError) throw e;
    throw notAModule(`unreadable: ${(e as Error)?.message ?? String(e)}`, e);
  }
}

function inspect(bytes: Uint8Array): ModuleInspection {
  if (!(bytes instanceof Uint8Array)) throw notAModule("the bytecode is not a byte array");
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (bytes.length < 8 || header.some((b, i) => bytes[i] !== b)) {
    throw notAModule("it does not start with \\0asm and version 1 (a component or another format?)");
  }
  const memories: Found[] = [];
  const tables: Found[] = [];
  const file = new Reader(bytes, 8, bytes.length);
  while (file.at < file.end) {
    const id = file.byte();
    const size = file.u32();
    const start = file.at;
    file.skip(size);
    const r = new Reader(bytes, start, start + size);
    if (id === 2) {
      for (let n = r.u32(), i = 0; i < n; ++i) {
        const name = `${r.name()}.${r.name()}`;
        const kind = r.byte();
        if (kind === 0) r.u32();
        else if (kind === 1) {
          r.skipType();
          tables.push({ import: name, ...r.limits(`imported table ${name}`) });
        } else if (kind === 2) memories.push({ import: name, ...r.limits(`imported memory ${name}`) });
        else if (kind === 3) {
          r.skipType();
          r.byte();
        } else if (kind === 4) {
          r.byte();
          r.u32();
        } else throw notAModule(`import ${name} has an unknown kind ${kind}`);
      }
    } else if (id === 4) {
      for (let n = r.u32(), i = 0; i < n; ++i) {
        if (r.at < r.end && bytes[r.at] === 0x40) {
          throw new OperatorError(
            `The operator declares table ${tables.length} with an initializer expression (encoding 0x40 0x00), which the sandbox does not accept`,
            { fix: "declare its tables without an initializer (the usual compilers' default)" },
          );
        }
        r.skipType();
        tables.push(r.limits(`table ${tables.length}`));
      }
    } else if (id === 5) {
      for (let n = r.u32(), i = 0; i < n; ++i) memories.push(r.limits(`memory ${memories.length}`));
    } else continue;
    if (r.at !== r.end) throw notAModule(`section ${id} is ${size} bytes but its entries end at byte ${r.at - start}`);
  }
  return { memories, tables };
}

/** The engine's own access to the JS API: this project declares only part of it (client/types). */
const engine = (
  globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean; Module: new (b: Uint8Array) => object } }
).WebAssembly;

/**
 * Checks an operator's bytecode before it runs, and returns what {@link inspectModule} found. It
 * refuses (with an {@link OperatorError} that names the value found, the limit and the fix):
 * - anything but exactly zero or one memory in total, and any imported memory (its size would be
 *   the importer's choice, and a second memory escapes the checks on `memory`);
 * - a memory without a maximum, or with one above `maxMemoryPages`; memory64; shared memories;
 * - an imported table, a table without a maximum or with one above `maxTableElements`; table64;
 * - a module the engine itself does not validate.
 */
export function checkModule(bytes: Uint8Array, caps: SandboxCaps = {}): ModuleInspection {
  const maxPages = cap("maxMemoryPages", caps.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES, 65536);
  const maxElements = cap("maxTableElements", caps.maxTableElements ?? DEFAULT_MAX_TABLE_ELEMENTS, 0xffffffff);
  const found = inspectModule(bytes);
  const problems: Array<{ what: string; fix: string }> = [];
  const bound = `build it with --maximumMemory ${maxPages} or less (AssemblyScript; other compilers have a maximum-memory option)`;
  const imported = found.memories.filter((m) => m.import);
  if (found.memories.length > 1) {
    problems.push({
      what: `The operator has ${found.memories.length} memories (${imported.length} imported, ${found.memories.length - imported.length} declared); the sandbox allows one`,
      fix: "build it with a single memory (no multi-memory)",
    });
  }
  found.memories.forEach((m, i) => {
    const which = m.import ? `imported memory ${m.import}` : `memory ${i}`;
    if (m.import) {
      problems.push({
        what: `The operator imports its memory (${m.import}): operators must declare their own`,
        fix: "build it without --importMemory; the host provides no memory",
      });
    }
    if (m.is64) {
      problems.push({
        what: `The operator's ${which} is a 64-bit memory (memory64, limits flag 0x04); the sandbox runs 32-bit memories only`,
        fix: "build it for wasm32",
      });
    }
    if (m.shared) {
      problems.push({
        what: `The operator's ${which} is shared (limits flag 0x02); operators run single-threaded and deterministic, so shared memories are refused`,
        fix: "build it without --sharedMemory (no threads)",
      });
    }
    if (m.max === undefined || m.max > maxPages) {
      problems.push({
        what: `The operator's memory is not bounded to ${maxPages} pages (${which} declares maximum: ${m.max === undefined ? "none" : `${m.max} pages`})`,
        fix: bound,
      });
    }
  });
  found.tables.forEach((t, i) => {
    const which = t.import ? `imported table ${t.import}` : `table ${i}`;
    if (t.import) {
      problems.push({
        what: `The operator imports a table (${t.import}): operators must declare their own`,
        fix: "build it without --importTable; the host provides no table",
      });
    }
    if (t.is64 || t.shared) {
      problems.push({
        what: `The operator's ${which} uses ${t.is64 ? "64-bit indices (table64, limits flag 0x04)" : "limits flag 0x02 (shared)"}, which the sandbox refuses`,
        fix: "build it for wasm32 with plain tables",
      });
    }
    if (t.max === undefined || t.max > maxElements) {
      problems.push({
        what: `The operator's ${which} is not bounded to ${maxElements} elements (maximum: ${t.max ?? "none"})`,
        fix: `declare every table with a maximum of at most ${maxElements} elements (AssemblyScript declares its function table with one)`,
      });
    }
  });
  if (problems.length > 0) {
    throw new OperatorError(problems[0].what, {
      details: problems.slice(1).map((p) => p.what),
      fix: [...new Set(problems.map((p) => p.fix))].join("; "),
    });
  }
  if (!engine.validate(bytes)) {
    let reason = "the engine does not validate it";
    try {
      new engine.Module(bytes);
    } catch (e) {
      reason = (e as Error)?.message ?? String(e);
    }
    throw new OperatorError("The operator's bytecode is not a valid WebAssembly module", {
      details: [reason],
      fix: "rebuild it with a compiler for WebAssembly 2.0 (no proposals this Node does not ship)",
    });
  }
  return found;
}

function cap(name: string, value: number, most: number): number {
  if (!Number.isInteger(value) || value < 0 || value > most) {
    throw new OperatorError(`${name} must be an integer from 0 to ${most} (got ${value})`, {
      fix: `pass a ${name} in that range, or none for the default`,
    });
  }
  return value;
}

/**
 * The memory limits a module declares (64 KiB pages): whether it imports a memory, and the first
 * declared one's. Undefined max = unbounded.
 * @deprecated Sees only part of the module: use {@link inspectModule} or {@link checkModule}.
 */
export function memoryLimits(bytes: Uint8Array): { imported: boolean; min?: number; max?: number } {
  const { memories } = inspectModule(bytes);
  const own = memories.find((m) => !m.import);
  return { imported: memories.some((m) => m.import), min: own?.min, max: own?.max };
}

/** What an operator produced for one input delta: output deltas with the input's time. */
export type OperatorOutput = Delta[];

/**
 * A request's deltas in one buffer, moved (not copied) to the thread: per delta a u32 length (LE),
 * the data, and the diff as an i64 (LE). A structured clone of an array of objects, one per delta,
 * cost the worker's main thread more than a tenth of its time.
 */
export function packInputs(deltas: Delta[]): ArrayBuffer {
  const datas = deltas.map((d) =>
    typeof d.data === "string" ? Buffer.from(d.data.slice(2), "hex") : (d.data as Uint8Array),
  );
  const size = datas.reduce((s, b) => s + 12 + b.length, 0);
  const buf = new ArrayBuffer(size);
  const bytes = new Uint8Array(buf);
  const view = new DataView(buf);
  let at = 0;
  deltas.forEach((d, i) => {
    const b = datas[i];
    view.setUint32(at, b.length, true);
    bytes.set(b, at + 4);
    view.setBigInt64(at + 4 + b.length, BigInt(d.diff), true);
    at += 12 + b.length;
  });
  return buf;
}

/**
 * The thread's answer, as packed by thread.mjs: per input delta an i32, -1 when the operator
 * called the delta malformed, else the byte length of its records, then the records as the
 * operator wrote them (u32 size, data, i64 diff, little-endian). Each output takes its input's
 * time, and its data is a view into the answer, not a copy: a copy per record cost an ArrayBuffer
 * and a native backing store each. What keeps records past the epoch (the running state) keeps
 * their data as hex, so no answer outlives it. Anything that does
 * not add up exactly, one output per input and no byte left over, is a broken thread: it throws.
 */
export function unpackOutputs(packed: Uint8Array, deltas: Delta[]): Array<Delta[] | null> {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const broken = (why: string) => new Error(`its answer is broken: ${why}`);
  const out: Array<Delta[] | null> = [];
  let at = 0;
  while (out.length < deltas.length) {
    if (at + 4 > packed.length) throw broken(`${out.length} of ${deltas.length} outputs`);
    const len = view.getInt32(at, true);
    at += 4;
    if (len === -1) {
      out.push(null);
      continue;
    }
    const end = at + len;
    if (len < 0 || end > packed.length) throw broken(`output ${out.length} claims ${len} bytes`);
    const time = BigInt(deltas[out.length].time);
    const records: Delta[] = [];
    while (at < end) {
      if (at + 4 > end) throw broken(`output ${out.length} ends inside a record`);
      const size = view.getUint32(at, true);
      if (at + 4 + size + 8 > end) throw broken(`output ${out.length} ends inside a record`);
      records.push({ data: packed.subarray(at + 4, at + 4 + size), time, diff: view.getBigInt64(at + 4 + size, true) });
      at += 4 + size + 8;
    }
    out.push(records);
  }
  if (at !== packed.length) throw broken(`${packed.length - at} bytes after the last output`);
  return out;
}

/**
 * One running operator. `start` checks the module ({@link checkModule}: one bounded memory of at
 * most `maxMemoryPages` pages, not imported; bounded tables of at most `maxTableElements`) and
 * instantiates it in a worker thread with a small JS heap, which also checks the module's memories
 * after every call; `process` sends deltas through it with a budget of `perDeltaMs` per delta for
 * the batch; an overrun stops the thread (the operator's state is lost: restart it and replay) and
 * rejects with {@link OperatorError}.
 *
 * @example
 * ```ts
 * const op = await OperatorHost.start(bytecode, { maxMemoryPages: 256, perDeltaMs: 5 });
 * const outputs = await op.process(deltas); // outputs[i]: what deltas[i] produced
 * await op.close();
 * ```
 */
export class OperatorHost {
  private dead?: string;
  /** Closed once: the thread counts each instance as one user. */
  private closed = false;
  /** Requests run one after another: a request's time budget starts when the thread takes it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Input deltas the operator called malformed (it returned a negative count): skipped, no output. */
  malformed = 0;

  private constructor(
    private readonly thread: OperatorThread,
    /** This instance's number in its thread. */
    private readonly instance: number,
    private readonly perDeltaMs: number,
  ) {}

  /**
   * Checks the module and starts an instance of it: in the process's shared thread, or with
   * `ownThread` in a thread of its own (an instance restarted after a failure, a replay for a
   * dispute: an operator that loops or traps again then stops nothing but itself).
   */
  static async start(
    bytecode: Uint8Array,
    options: {
      maxMemoryPages?: number;
      perDeltaMs?: number;
      maxTableElements?: number;
      ownThread?: boolean;
      /** Set on the one retry after the thread was lost under a start. */
      retried?: boolean;
    } = {},
  ): Promise<OperatorHost> {
    const maxMemoryPages = options.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES;
    const maxTableElements = options.maxTableElements ?? DEFAULT_MAX_TABLE_ELEMENTS;
    checkModule(bytecode, { maxMemoryPages, maxTableElements });
    const thread = options.ownThread ? OperatorThread.own(OUTPUT_CAPS) : OperatorThread.shared(OUTPUT_CAPS);
    const instance = thread.attach();
    const host = new OperatorHost(thread, instance, options.perDeltaMs ?? 10);
    const ready = await thread.request(
      { start: instance, bytes: bytecode, maxMemoryPages, maxTableElements },
      [],
      START_BUDGET_MS,
      `no answer within ${START_BUDGET_MS} ms (a start function that does not return?)`,
    );
    if ("kind" in ready) {
      await host.fail(ready);
      await host.close();
      // The shared thread stopped under the start for another instance's overrun: start again in
      // a fresh one (this module has not failed).
      if (ready.kind === "lost" && !options.ownThread && !options.retried)
        return OperatorHost.start(bytecode, { ...options, retried: true });
      throw new OperatorError(`The operator could not start: ${ready.error}`, {
        fix: "check that it exports memory, input, process, output and outputLen and that its start code returns",
      });
    }
    return host;
  }

  /**
   * Runs `deltas` through the operator, in order (sent in chunks of at most 2048 deltas, each with
   * its own time budget). With `input`, they are deltas of the operator's input number `input` and
   * go to its `processFrom(input, len, diff)` (operators with several inputs); without, to
   * `process(len, diff)`. Rejects with OperatorError on any failure.
   */
  process(deltas: Delta[], input?: number): Promise<OperatorOutput[]> {
    const result = this.queue.then(async () => {
      const outputs: OperatorOutput[] = [];
      let from = 0;
      // do … while: an empty batch still goes to run(), so that a stopped operator rejects it.
      do {
        let to = from;
        let bytes = 0;
        while (to < deltas.length && to - from < CHUNK_DELTAS && bytes < CHUNK_BYTES) bytes += dataLength(deltas[to++]);
        for (const o of await this.run(deltas.slice(from, to), input)) outputs.push(o);
        from = to;
      } while (from < deltas.length);
      return outputs;
    });
    // Settled to nothing either way: the queue must not keep the last outputs (views into the
    // operator's answer) alive for as long as the host lives.
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Stops the instance after a failure. The thread goes too when it overran (it is still spinning)
   * or broke (an answer that does not add up); a failure the thread reported (a trap, a cap) stops
   * the instance alone, which the thread has already dropped.
   */
  private async fail(f: Failure): Promise<void> {
    this.dead ??= f.error;
    if (f.kind === "timeout") await this.thread.stop(`an operator in it overran: ${f.error}`);
  }

  private async run(deltas: Delta[], input?: number): Promise<OperatorOutput[]> {
    if (this.dead ?? this.thread.dead)
      throw new OperatorError(`The operator is stopped: ${this.dead ?? this.thread.dead}`);
    const payload = packInputs(deltas);
    // A fixed allowance for message passing and scheduling on a busy machine (several workers and a
    // chain node on two cores), plus the per-delta budget.
    const budget = RUN_ALLOWANCE_MS + this.perDeltaMs * deltas.length;
    const reply: ThreadReply | Failure = await this.thread.request(
      { instance: this.instance, count: deltas.length, packed: payload, from: input },
      [payload],
      budget,
      `timeout: more than ${budget} ms for ${deltas.length} deltas`,
    );
    let outputs: Array<Delta[] | null> | undefined;
    let lostWithThread = false;
    if ("kind" in reply) {
      lostWithThread = reply.kind === "lost";
      await this.fail(reply);
    } else {
      try {
        if (!(reply.packed instanceof ArrayBuffer)) throw new Error("its answer is not a buffer");
        outputs = unpackOutputs(new Uint8Array(reply.packed), deltas);
      } catch (e) {
        this.dead = (e as Error).message;
        await this.thread.stop(`it gave a broken answer: ${this.dead}`);
      }
    }
    if (!outputs) {
      const e = new OperatorError(`The operator failed: ${this.dead}`, {
        fix: "the operator is stopped; restart it and replay its input, or report the operator",
      });
      e.lostWithThread = lostWithThread;
      throw e;
    }
    return outputs.map((records) => {
      if (records === null) {
        this.malformed += 1;
        return [];
      }
      return records;
    });
  }

  /** The limits of the thread the instance runs in, as Node applied them. */
  get threadLimits() {
    return this.thread.resourceLimits;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dead ??= "closed";
    this.thread.drop(this.instance);
    await this.thread.release();
  }
}
