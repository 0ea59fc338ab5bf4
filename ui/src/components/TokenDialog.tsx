// The API key: asked for once (when a request needs it, or from the header)
// and kept in localStorage. requestToken() opens the dialog and resolves to
// whether a key was saved, so a refused submit can be retried at once.
import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useServices, useToken } from "../api/context";

interface Prompt {
  reason?: string;
  resolve: (saved: boolean) => void;
}

const TokenPromptContext = createContext<(reason?: string) => Promise<boolean>>(async () => false);

export function useTokenPrompt() {
  return useContext(TokenPromptContext);
}

export function TokenPromptProvider({ children }: { children: ReactNode }) {
  const [prompt, setPrompt] = useState<Prompt | null>(null);
  const requestToken = useCallback(
    (reason?: string) =>
      new Promise<boolean>((resolve) => {
        setPrompt((previous) => {
          previous?.resolve(false);
          return { reason, resolve };
        });
      }),
    [],
  );
  const close = (saved: boolean) => {
    prompt?.resolve(saved);
    setPrompt(null);
  };
  return (
    <TokenPromptContext.Provider value={requestToken}>
      {children}
      {prompt && <TokenDialog reason={prompt.reason} onClose={close} />}
    </TokenPromptContext.Provider>
  );
}

function TokenDialog({ reason, onClose }: { reason?: string | undefined; onClose: (saved: boolean) => void }) {
  const { tokens } = useServices();
  const current = useToken();
  const [value, setValue] = useState(current);
  const [shown, setShown] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const hintId = useId();

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  return (
    <dialog
      ref={dialog}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        onClose(false);
      }}
    >
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          tokens.set(value);
          onClose(value.trim() !== "");
        }}
      >
        <h2 id={titleId}>API key</h2>
        {reason && <p className="dialog-reason">{reason}</p>}
        <label htmlFor="token-input">Key</label>
        <div className="input-row">
          <input
            id="token-input"
            name="token"
            type={shown ? "text" : "password"}
            autoComplete="off"
            spellCheck={false}
            value={value}
            onChange={(event) => setValue(event.target.value)}
            aria-describedby={hintId}
            autoFocus
          />
          <button type="button" className="button button-ghost" onClick={() => setShown(!shown)} aria-pressed={shown}>
            {shown ? "Hide" : "Show"}
          </button>
        </div>
        <p id={hintId} className="hint">
          Reading needs a <code>read</code> key; submitting and cancelling a <code>submit</code> one. <code>dtq serve</code>{" "}
          prints an admin key the first time it starts; <code>dtq keys create</code> makes more. It is kept in this
          browser only.
        </p>
        <div className="dialog-actions">
          {current && (
            <button
              type="button"
              className="button button-ghost"
              onClick={() => {
                tokens.set("");
                onClose(false);
              }}
            >
              Forget key
            </button>
          )}
          <span className="spacer" />
          <button type="button" className="button button-secondary" onClick={() => onClose(false)}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={!value.trim()}>
            Save key
          </button>
        </div>
      </form>
    </dialog>
  );
}
