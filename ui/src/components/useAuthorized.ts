import { useCallback } from "react";
import { ApiError } from "../api/client";
import { useTokenPrompt } from "./TokenDialog";

/**
 * Runs a write; when the server refuses the token (or none is set), asks for
 * one and runs it again once it is saved. Other errors pass through.
 */
export function useAuthorized() {
  const requestToken = useTokenPrompt();
  return useCallback(
    async <T,>(write: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await write();
        } catch (error) {
          if (!(error instanceof ApiError) || error.code !== "unauthorized") throw error;
          const reason =
            error.message === "a bearer token is required"
              ? "This server needs its API token to accept changes."
              : "The server refused this token. Check it and try again.";
          if (!(await requestToken(reason))) throw error;
        }
      }
    },
    [requestToken],
  );
}
