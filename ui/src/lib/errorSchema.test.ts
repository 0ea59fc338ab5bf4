import { describe, expect, it } from "vitest";
import { pointerToPath, toErrorSchema } from "./errorSchema";

describe("JSON Pointer details to an rjsf ErrorSchema", () => {
  it("splits and unescapes pointers", () => {
    expect(pointerToPath("")).toEqual([]);
    expect(pointerToPath("/city")).toEqual(["city"]);
    expect(pointerToPath("/a~1b/c~0d/0")).toEqual(["a/b", "c~d", "0"]);
  });

  it("puts each message on its field, root messages at the root", () => {
    expect(
      toErrorSchema([
        { field: "/target", message: "must differ from base (USD)" },
        { field: "/target", message: "second" },
        { field: "/nested/list/1", message: "deep" },
        { field: "", message: "the body must be a JSON object" },
      ]),
    ).toEqual({
      target: { __errors: ["must differ from base (USD)", "second"] },
      nested: { list: { 1: { __errors: ["deep"] } } },
      __errors: ["the body must be a JSON object"],
    });
  });
});
