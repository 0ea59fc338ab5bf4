import { describe, expect, it, vi } from "vitest";
import { TokenStore } from "./token";

describe("TokenStore", () => {
  it("adopts a key handed over as #key=", () => {
    const store = new TokenStore(localStorage);
    const replaceState = vi.fn();
    store.adoptFromLocation(
      { hash: "#key=dtq_abc", pathname: "/", search: "" } as Location,
      { state: null, replaceState } as unknown as History,
    );
    expect(store.get()).toBe("dtq_abc");
    expect(replaceState).toHaveBeenCalledWith(null, "", "/");
  });

  it("keeps the token, and adopts one handed over in the address", () => {
    const store = new TokenStore(localStorage);
    store.set("  abc  ");
    expect(new TokenStore(localStorage).get()).toBe("abc");
    const replaceState = vi.fn();
    store.adoptFromLocation(
      { hash: "#token=t%2B1", pathname: "/jobs", search: "?state=running" } as Location,
      { state: null, replaceState } as unknown as History,
    );
    expect(store.get()).toBe("t+1");
    expect(replaceState).toHaveBeenCalledWith(null, "", "/jobs?state=running");
  });
});
