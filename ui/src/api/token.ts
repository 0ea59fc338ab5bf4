// The API key, entered once and kept in localStorage (never a cookie: the
// browser would send a cookie by itself, to any page's request). Every
// request sends it in the Authorization header: reads need a `read` key,
// submit and cancel a `submit` one.

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
   * Takes a key handed over in the address (`#key=...`, as `dtq serve` and
   * `make run` print it; `#token=` too), keeps it and removes it from the
   * address bar and history. A fragment never reaches the server.
   */
  adoptFromLocation(location: Location = window.location, history: History = window.history): void {
    const match = /(?:^#|&)(?:key|token)=([^&]*)/.exec(location.hash);
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
