// Runs operators (WebAssembly modules) in a thread of their own, so that the host can stop them
// when a request overruns its time budget (worker/operators/host.ts, pool.ts). A thread holds any
// number of instances, each with its own module instance, memory and tables, and takes requests
// one at a time in the order they were sent. Plain JavaScript: a worker thread runs without the
// TypeScript loader.
/* global WebAssembly */
import { parentPort, workerData } from "node:worker_threads";

const PAGE = 65536;
const { maxOutputRecords, maxOutputBytes, clock } = workerData;
// The shared clock the host reads when a request's timer fires (pool.ts, moreTime): the request
// taken and when, and the last request answered and when. The budget is this thread's time, not
// the host's.
const TAKEN = 0;
const TAKEN_AT = 1;
const ANSWERED = 2;
const ANSWERED_AT = 3;
const now = () => process.hrtime.bigint() / 1_000_000n;
// Without them the checks below would compare against undefined and pass everything: the thread
// fails at once (its host sees the error, and every request fails).
if (!Number.isInteger(maxOutputRecords) || !Number.isInteger(maxOutputBytes))
  throw new Error("the host gave no output caps");
if (!(clock instanceof BigInt64Array) || clock.length < 4) throw new Error("the host gave no shared clock");

/** Instance number → its exports, caps, and every memory and table it exports (by export name). */
const instances = new Map();

// The second line of defence: the host refused the module unless it has one memory bounded to
// maxMemoryPages and bounded tables, and the engine enforces the declared maxima. Should either
// fail (a gap in the host's check, an engine bug), the request fails here and the host stops the
// instance, before the operator's output is used.
function checkBounds(it) {
  for (const [name, memory] of it.memories) {
    const bytes = memory.buffer.byteLength;
    if (bytes > it.maxMemoryPages * PAGE) {
      throw new Error(
        `the operator's memory "${name}" grew to ${bytes / PAGE} pages (${bytes} bytes), above the cap of ${it.maxMemoryPages} pages`,
      );
    }
  }
  for (const [name, table] of it.tables) {
    if (table.length > it.maxTableElements) {
      throw new Error(
        `the operator's table "${name}" grew to ${table.length} elements, above the cap of ${it.maxTableElements}`,
      );
    }
  }
}

/** Calls into the instance, then checks what the call may have grown. */
function call(it, name, ...args) {
  const result = it.exports[name](...args);
  checkBounds(it);
  return result;
}

/** Compiles and instantiates a module as instance `instance` (its start function runs here). */
function start(instance, { bytes, maxMemoryPages, maxTableElements }) {
  // Without caps the checks would compare against undefined and pass everything.
  if (!Number.isInteger(maxMemoryPages) || !Number.isInteger(maxTableElements))
    throw new Error("the host gave no caps");
  const module = new WebAssembly.Module(bytes);
  const wasm = new WebAssembly.Instance(module, {
    env: {
      abort: (_msg, _file, line, column) => {
        throw new Error(`the operator aborted (line ${line}, column ${column})`);
      },
      seed: () => 0,
    },
  });
  const exports = wasm.exports;
  if (!(exports.memory instanceof WebAssembly.Memory)) throw new Error("the module does not export its memory");
  for (const name of ["input", "process", "output", "outputLen"]) {
    if (typeof exports[name] !== "function") throw new Error(`the module does not export a function ${name}`);
  }
  const entries = Object.entries(exports);
  const it = {
    exports,
    maxMemoryPages,
    maxTableElements,
    memories: entries.filter(([, v]) => v instanceof WebAssembly.Memory),
    tables: entries.filter(([, v]) => v instanceof WebAssembly.Table),
  };
  // The start function has run: it may have grown them already.
  checkBounds(it);
  instances.set(instance, it);
}

/** How many whole records the operator's output of `len` bytes holds; throws when one is cut. */
function countRecords(view, len) {
  let n = 0;
  for (let r = 0; r < len; ++n) {
    if (r + 4 > len) throw new Error("the operator's output ends inside a record");
    r += 4 + view.getUint32(r, true) + 8;
    if (r > len) throw new Error("the operator's output ends inside a record");
  }
  return n;
}

/** Runs a request's deltas through instance `it`: the packed answer (see below). */
function run(it, count, packed, from) {
  const { exports } = it;
  // A delta of input `from` of a multi-input operator goes to processFrom(from, len, diff).
  if (from !== undefined && typeof exports.processFrom !== "function")
    throw new Error("the module does not export processFrom, which an operator with several inputs needs");
  const input = new Uint8Array(packed);
  const view = new DataView(packed);
  let reply = new Uint8Array(Math.max(1024, input.length * 2));
  let used = 0;
  const room = (n) => {
    if (used + n <= reply.length) return;
    const bigger = new Uint8Array(Math.max(reply.length * 2, used + n));
    bigger.set(reply.subarray(0, used));
    reply = bigger;
  };
  let at = 0;
  let records = 0;
  for (let i = 0; i < count; ++i) {
    const length = view.getUint32(at, true);
    const diff = view.getBigInt64(at + 4 + length, true);
    const ptr = call(it, "input", length);
    new Uint8Array(exports.memory.buffer, ptr, length).set(input.subarray(at + 4, at + 4 + length));
    at += 12 + length;
    const n = from === undefined ? call(it, "process", length, diff) : call(it, "processFrom", from, length, diff);
    room(4);
    if (n < 0) {
      // Malformed for this operator: it produces nothing (every replica skips it alike).
      new DataView(reply.buffer).setInt32(used, -1, true);
      used += 4;
      continue;
    }
    const base = call(it, "output");
    const len = call(it, "outputLen");
    // The records must be whole (a length that does not add up is the operator's fault), and
    // what one request may produce is capped: each record becomes an object on the worker's
    // main thread, and an operator must not be able to fill that with one answer.
    records += countRecords(new DataView(exports.memory.buffer, base, len), len);
    if (records > maxOutputRecords || used + 4 + len > maxOutputBytes)
      throw new Error(
        `the operator produced more than ${maxOutputRecords} records or ${maxOutputBytes} bytes for ${count} deltas`,
      );
    room(4 + len);
    new DataView(reply.buffer).setInt32(used, len, true);
    reply.set(new Uint8Array(exports.memory.buffer, base, len), used + 4);
    used += 4 + len;
  }
  return reply.buffer.slice(0, used);
}

// Messages (pool.ts and host.ts send them):
// - { id, start: instance, bytes, maxMemoryPages, maxTableElements }: a new instance; answered
//   { id, ready: true };
// - { id, instance, count, packed, from }: `count` deltas packed in one moved buffer (host.ts,
//   packInputs); answered with one moved buffer: per delta an i32 (-1: malformed, else the byte
//   length of its records) and the records exactly as the operator wrote them (u32 size, data,
//   i64 diff);
// - { drop: instance }: the instance is closed (no answer).
// A request that fails is answered { id, error }, and its instance is dropped: a trap may leave it
// inconsistent, and its host stops it.
parentPort.on("message", (m) => {
  if (m.drop !== undefined) {
    instances.delete(m.drop);
    return;
  }
  const { id } = m;
  Atomics.store(clock, TAKEN_AT, now());
  Atomics.store(clock, TAKEN, BigInt(id));
  let answer;
  let moved = [];
  try {
    if (m.start !== undefined) {
      start(m.start, m);
      answer = { id, ready: true };
    } else {
      const it = instances.get(m.instance);
      if (!it) throw new Error(`no instance ${m.instance} in this thread (it failed or was closed)`);
      const packed = run(it, m.count, m.packed, m.from);
      answer = { id, packed };
      moved = [packed];
    }
  } catch (e) {
    instances.delete(m.start ?? m.instance);
    answer = { id, error: String(e?.message ?? e) };
  }
  Atomics.store(clock, ANSWERED_AT, now());
  Atomics.store(clock, ANSWERED, BigInt(id));
  parentPort.postMessage(answer, moved);
});
