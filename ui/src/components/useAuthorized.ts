import { useCallback } from "react";
import { toApiError } from "../api/client";
import { useServices } from "../api/context";
import { useTokenPrompt } from "./TokenDialog";

/**
 * Runs a write; when the server refuses the key (or none is set), or the
 * key's scope is too small, asks for one and runs it again once it is
 * saved. Every failure comes out as an ApiError. `scope`: what the write
 * needs (dead-letter and retry actions need an admin key).
 */
export function useAuthorized(scope: "submit" | "admin" = "submit") {
  const requestToken = useTokenPrompt();
  const { tokens } = useServices();
  return useCallback(
    async <T,>(write: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await write();
        } catch (raw) {
          const error = toApiError(raw);
          if (error.code !== "unauthorized" && error.code !== "forbidden") throw error;
          const reason =
            error.code === "forbidden"
              ? `This key's scope is too small. This needs a key with the ${scope} scope.`
              : tokens.get() === ""
                ? "This server needs an API key to accept changes."
                : "The server refused this key. Check it and try again.";
          if (!(await requestToken(reason))) throw error;
        }
      }
    },
    [requestToken, tokens, scope],
  );
}
