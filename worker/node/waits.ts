// Every wait says what it waits for (docs/worker.md): at info level, `"msg":"waiting"` with
// `waitingFor`, once when the reason changes and again every `repeatMs` while it holds.
import type { Logger } from "pino";

/**
 * @example
 * ```ts
 * const waits = new WaitLog(log);
 * waits.say("clock", `epoch 3 freezes at chain time ${t}`);
 * ```
 */
export class WaitLog {
  private readonly last = new Map<string, { text: string; at: number }>();
  constructor(
    private readonly log: Logger,
    private readonly repeatMs = 30_000,
  ) {}

  /** Logs `text` under `topic` unless the same reason (countdowns aside) was said less than `repeatMs` ago. */
  say(topic: string, text: string, extra: Record<string, unknown> = {}): void {
    const before = this.last.get(topic);
    const key = text.replace(/[0-9]+ s\b/g, "");
    if (before && before.text === key && Date.now() - before.at < this.repeatMs) return;
    this.last.set(topic, { text: key, at: Date.now() });
    this.log.info({ ...extra, waitingFor: text }, "waiting");
  }

  /** Forgets a topic that is over (an epoch that finished). */
  forget(topic: string): void {
    this.last.delete(topic);
  }
}
