// The API token, entered once and kept in localStorage. Reads are open on
// the dtq API; only writes (submit, cancel) send it.

const KEY = "dtq.token";
type Listener = () => void;

export class TokenStore {
  private readonly listeners = new Set<Listener>();
  private token: string;

  constructor(private readonly storage: Storage | undefined = globalThis.localStorage) {
    this.token = this.read();
  }

  get = (): string => this.token;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  set(token: string): void {
    this.token = token.trim();
    try {
      if (this.token) this.storage?.setItem(KEY, this.token);
      else this.storage?.removeItem(KEY);
    } catch {
      // Storage refused (private mode, quota): the token lasts for this page.
    }
    for (const listener of this.listeners) listener();
  }

  /**
   * Takes a token handed over in the address (`#token=...`, as `make run`
   * prints it), keeps it and removes it from the address bar and history.
   */
  adoptFromLocation(location: Location = window.location, history: History = window.history): void {
    const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!match?.[1]) return;
    this.set(decodeURIComponent(match[1]));
    history.replaceState(history.state, "", location.pathname + location.search);
  }

  private read(): string {
    try {
      return this.storage?.getItem(KEY) ?? "";
    } catch {
      return "";
    }
  }
}
