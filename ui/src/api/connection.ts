// Whether the browser is connected to the dtq server, as the GraphQL
// WebSocket (transport.ts) tells it: the socket is kept open for as long as
// the page is, so it is the page's live line to the server. When it drops,
// the connection is "lost" (the UI shows a banner) while the socket
// reconnects by itself; once the server acknowledges a new socket, the
// connection is "restored" for a few seconds (the UI says so), then back to
// "online". `epoch` is bumped on each return: what was pushed meanwhile
// was missed, so pages re-read what they show.

export type ConnectionState = "connecting" | "online" | "lost" | "restored";

export interface ConnectionSnapshot {
  state: ConnectionState;
  /** Bumped each time the connection comes back after it was lost. */
  epoch: number;
}

type Listener = () => void;

const RESTORED_NOTICE_MS = 4000;

export class ConnectionMonitor {
  private snapshot: ConnectionSnapshot = { state: "connecting", epoch: 0 };
  private readonly listeners = new Set<Listener>();
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;

  get = (): ConnectionSnapshot => this.snapshot;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** The socket closed, or could not open: the server cannot be reached. */
  reportLost(): void {
    if (this.snapshot.state === "lost") return;
    clearTimeout(this.noticeTimer);
    this.set({ ...this.snapshot, state: "lost" });
  }

  /** The server acknowledged the socket. */
  reportConnected(): void {
    const { state, epoch } = this.snapshot;
    if (state === "connecting") {
      this.set({ state: "online", epoch });
    } else if (state === "lost") {
      this.set({ state: "restored", epoch: epoch + 1 });
      this.noticeTimer = setTimeout(() => this.set({ ...this.snapshot, state: "online" }), RESTORED_NOTICE_MS);
    }
  }

  dispose(): void {
    clearTimeout(this.noticeTimer);
  }

  private set(next: ConnectionSnapshot): void {
    this.snapshot = next;
    for (const listener of this.listeners) listener();
  }
}
