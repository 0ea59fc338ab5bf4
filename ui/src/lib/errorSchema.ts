// Server-side field errors onto the form: the API's invalid_payload details
// name each field with a JSON Pointer (RFC 6901) into the payload; rjsf wants
// an ErrorSchema, the same tree with `__errors` lists at the leaves.
import type { ErrorSchema } from "@rjsf/utils";
import type { FieldError } from "../api/types";

export function pointerToPath(pointer: string): string[] {
  if (pointer === "" || pointer === "/") return [];
  const tokens = pointer.startsWith("/") ? pointer.slice(1).split("/") : pointer.split("/");
  return tokens.map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function toErrorSchema(details: FieldError[]): ErrorSchema {
  const root: Record<string, unknown> = {};
  for (const { field, message } of details) {
    let node = root;
    for (const key of pointerToPath(field ?? "")) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    const errors = (node.__errors ??= []) as string[];
    errors.push(message);
  }
  return root as ErrorSchema;
}
