// Whether the browser can reach the dtq server, shared by every request and
// event stream. A failed request marks the connection lost; while it is lost
// a probe asks GET /healthz with growing pauses until the server answers, then
// the connection is "restored" for a few seconds (the UI says so) and back to
// "online". Pages subscribe to `epoch` to reload what they show once it is back.

export type ConnectionState = "online" | "lost" | "restored";

export interface ConnectionSnapshot {
  state: ConnectionState;
  /** Bumped each time the connection comes back. */
  epoch: number;
}

type Listener = () => void;

const RESTORED_NOTICE_MS = 4000;
const PROBE_MIN_MS = 500;
const PROBE_MAX_MS = 8000;

export class ConnectionMonitor {
  private snapshot: ConnectionSnapshot = { state: "online", epoch: 0 };
  private readonly listeners = new Set<Listener>();
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;
  private probeDelay = PROBE_MIN_MS;

  constructor(private readonly probe: () => Promise<boolean>) {}

  get = (): ConnectionSnapshot => this.snapshot;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** A request or stream could not reach the server. */
  reportLost(): void {
    if (this.snapshot.state === "lost") return;
    clearTimeout(this.noticeTimer);
    this.set({ ...this.snapshot, state: "lost" });
    this.probeDelay = PROBE_MIN_MS;
    this.scheduleProbe();
  }

  /** A request or stream reached the server. */
  reportReachable(): void {
    if (this.snapshot.state !== "lost") return;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.set({ state: "restored", epoch: this.snapshot.epoch + 1 });
    this.noticeTimer = setTimeout(() => this.set({ ...this.snapshot, state: "online" }), RESTORED_NOTICE_MS);
  }

  dispose(): void {
    clearTimeout(this.probeTimer);
    clearTimeout(this.noticeTimer);
  }

  private scheduleProbe(): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(async () => {
      const up = await this.probe().catch(() => false);
      if (this.snapshot.state !== "lost") return;
      if (up) {
        this.reportReachable();
      } else {
        this.probeDelay = Math.min(this.probeDelay * 2, PROBE_MAX_MS);
        this.scheduleProbe();
      }
    }, this.probeDelay);
  }

  private set(next: ConnectionSnapshot): void {
    this.snapshot = next;
    for (const listener of this.listeners) listener();
  }
}
