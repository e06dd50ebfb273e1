// Runs one operator (a WebAssembly module) in its own thread, so that the host can stop it when a
// batch overruns its time budget (worker/operators/host.ts). Plain JavaScript: a worker thread
// runs without the TypeScript loader.
/* global WebAssembly */
import { parentPort, workerData } from "node:worker_threads";

let exports;
try {
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
  for (const name of ["memory", "input", "process", "output", "outputLen"]) {
    if (!(name in exports)) throw new Error(`the module does not export ${name}`);
  }
  parentPort.postMessage({ ready: true });
} catch (e) {
  parentPort.postMessage({ ready: false, error: String(e?.message ?? e) });
}

parentPort.on("message", ({ id, deltas }) => {
  const out = [];
  try {
    for (let i = 0; i < deltas.length; ++i) {
      const { data, diff } = deltas[i];
      const ptr = exports.input(data.length);
      new Uint8Array(exports.memory.buffer, ptr, data.length).set(data);
      const n = exports.process(data.length, BigInt(diff));
      if (n < 0) {
        // Malformed for this operator: it produces nothing (every replica skips it alike).
        out.push(null);
        continue;
      }
      const base = exports.output();
      const len = exports.outputLen();
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
    parentPort.postMessage({ id, out });
  } catch (e) {
    parentPort.postMessage({ id, error: String(e?.message ?? e) });
  }
});
