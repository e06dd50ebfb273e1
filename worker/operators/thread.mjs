// Runs one operator (a WebAssembly module) in its own thread, so that the host can stop it when a
// batch overruns its time budget (worker/operators/host.ts). Plain JavaScript: a worker thread
// runs without the TypeScript loader.
/* global WebAssembly */
import { parentPort, workerData } from "node:worker_threads";

const PAGE = 65536;
const { maxMemoryPages, maxTableElements, maxOutputRecords, maxOutputBytes, clock } = workerData;
// The shared clock the host reads when a request's timer fires (host.ts, moreTime): the request
// taken and when, and the last request answered. The budget is this thread's time, not the host's.
const TAKEN = 0;
const TAKEN_AT = 1;
const ANSWERED = 2;
/** The start's request id: compiling and instantiating the module (host.ts, START_ID). */
const START = -2n;
if (clock instanceof BigInt64Array) {
  Atomics.store(clock, TAKEN_AT, process.hrtime.bigint() / 1_000_000n);
  Atomics.store(clock, TAKEN, START);
}

let exports;
/** Every memory and table the module exports, by export name. */
let memories = [];
let tables = [];

// The second line of defence: the host refused the module unless it has one memory bounded to
// maxMemoryPages and bounded tables, and the engine enforces the declared maxima. Should either
// fail (a gap in the host's check, an engine bug), the request fails here and the host stops the
// thread, before the operator's output is used.
function checkBounds() {
  for (const [name, memory] of memories) {
    const bytes = memory.buffer.byteLength;
    if (bytes > maxMemoryPages * PAGE) {
      throw new Error(
        `the operator's memory "${name}" grew to ${bytes / PAGE} pages (${bytes} bytes), above the cap of ${maxMemoryPages} pages`,
      );
    }
  }
  for (const [name, table] of tables) {
    if (table.length > maxTableElements) {
      throw new Error(
        `the operator's table "${name}" grew to ${table.length} elements, above the cap of ${maxTableElements}`,
      );
    }
  }
}

/** Calls into the instance, then checks what the call may have grown. */
function call(name, ...args) {
  const result = exports[name](...args);
  checkBounds();
  return result;
}

try {
  // Without caps the checks below would compare against undefined and pass everything.
  if (!Number.isInteger(maxMemoryPages) || !Number.isInteger(maxTableElements))
    throw new Error("the host gave no caps");
  if (!Number.isInteger(maxOutputRecords) || !Number.isInteger(maxOutputBytes))
    throw new Error("the host gave no output caps");
  if (!(clock instanceof BigInt64Array) || clock.length < 3) throw new Error("the host gave no shared clock");
  const module = new WebAssembly.Module(workerData.bytes);
  const instance = new WebAssembly.Instance(module, {
    env: {
      abort: (_msg, _file, line, column) => {
        throw new Error(`the operator aborted (line ${line}, column ${column})`);
      },
      seed: () => 0,
    },
  });
  exports = instance.exports;
  if (!(exports.memory instanceof WebAssembly.Memory)) throw new Error("the module does not export its memory");
  for (const name of ["input", "process", "output", "outputLen"]) {
    if (typeof exports[name] !== "function") throw new Error(`the module does not export a function ${name}`);
  }
  const entries = Object.entries(exports);
  memories = entries.filter(([, v]) => v instanceof WebAssembly.Memory);
  tables = entries.filter(([, v]) => v instanceof WebAssembly.Table);
  // The start function has run: it may have grown them already.
  checkBounds();
  Atomics.store(clock, ANSWERED, START);
  parentPort.postMessage({ ready: true });
} catch (e) {
  if (clock instanceof BigInt64Array) Atomics.store(clock, ANSWERED, START);
  parentPort.postMessage({ ready: false, error: String(e?.message ?? e) });
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

// A request: `count` deltas packed in one moved buffer (host.ts, packInputs). The answer is one
// moved buffer too: per delta an i32 (-1: malformed, else the byte length of its records) and the
// records exactly as the operator wrote them to its output (u32 size, data, i64 diff).
parentPort.on("message", ({ id, count, packed, from }) => {
  Atomics.store(clock, TAKEN_AT, process.hrtime.bigint() / 1_000_000n);
  Atomics.store(clock, TAKEN, BigInt(id));
  try {
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
      const ptr = call("input", length);
      new Uint8Array(exports.memory.buffer, ptr, length).set(input.subarray(at + 4, at + 4 + length));
      at += 12 + length;
      const n = from === undefined ? call("process", length, diff) : call("processFrom", from, length, diff);
      room(4);
      if (n < 0) {
        // Malformed for this operator: it produces nothing (every replica skips it alike).
        new DataView(reply.buffer).setInt32(used, -1, true);
        used += 4;
        continue;
      }
      const base = call("output");
      const len = call("outputLen");
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
    const packedReply = reply.buffer.slice(0, used);
    Atomics.store(clock, ANSWERED, BigInt(id));
    parentPort.postMessage({ id, packed: packedReply }, [packedReply]);
  } catch (e) {
    Atomics.store(clock, ANSWERED, BigInt(id));
    parentPort.postMessage({ id, error: String(e?.message ?? e) });
  }
});
