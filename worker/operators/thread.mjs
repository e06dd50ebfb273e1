// Runs one operator (a WebAssembly module) in its own thread, so that the host can stop it when a
// batch overruns its time budget (worker/operators/host.ts). Plain JavaScript: a worker thread
// runs without the TypeScript loader.
/* global WebAssembly */
import { parentPort, workerData } from "node:worker_threads";

const PAGE = 65536;
const { maxMemoryPages, maxTableElements, clock } = workerData;
// The shared clock the host reads when a request's timer fires (host.ts, moreTime): the request
// taken and when, and the last request answered. The budget is this thread's time, not the host's.
const TAKEN = 0;
const TAKEN_AT = 1;
const ANSWERED = 2;

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
  parentPort.postMessage({ ready: true });
} catch (e) {
  parentPort.postMessage({ ready: false, error: String(e?.message ?? e) });
}

parentPort.on("message", ({ id, deltas, from }) => {
  Atomics.store(clock, TAKEN_AT, BigInt(Date.now()));
  Atomics.store(clock, TAKEN, BigInt(id));
  const out = [];
  try {
    // A delta of input `from` of a multi-input operator goes to processFrom(from, len, diff).
    if (from !== undefined && typeof exports.processFrom !== "function")
      throw new Error("the module does not export processFrom, which an operator with several inputs needs");
    for (let i = 0; i < deltas.length; ++i) {
      const { data, diff } = deltas[i];
      const ptr = call("input", data.length);
      new Uint8Array(exports.memory.buffer, ptr, data.length).set(data);
      const n =
        from === undefined
          ? call("process", data.length, BigInt(diff))
          : call("processFrom", from, data.length, BigInt(diff));
      if (n < 0) {
        // Malformed for this operator: it produces nothing (every replica skips it alike).
        out.push(null);
        continue;
      }
      const base = call("output");
      const len = call("outputLen");
      const view = new DataView(exports.memory.buffer, base, len);
      const records = [];
      for (let at = 0; at < len;) {
        const size = view.getUint32(at, true);
        const bytes = new Uint8Array(exports.memory.buffer, base + at + 4, size).slice();
        const d = view.getBigInt64(at + 4 + size, true);
        records.push({ data: bytes, diff: d });
        at += 4 + size + 8;
      }
      out.push(records);
    }
    Atomics.store(clock, ANSWERED, BigInt(id));
    parentPort.postMessage({ id, out });
  } catch (e) {
    Atomics.store(clock, ANSWERED, BigInt(id));
    parentPort.postMessage({ id, error: String(e?.message ?? e) });
  }
});
