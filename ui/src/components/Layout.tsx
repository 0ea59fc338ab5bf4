// The frame of every page: a skip link, the header with navigation, the
// token and theme controls, the connection banner, and the page itself.
import { useEffect, useRef, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useConnection, useToken } from "../api/context";
import { applyTheme, currentTheme, type Theme } from "../lib/theme";
import { Icon } from "./Icon";
import { useTokenPrompt } from "./TokenDialog";

function ConnectionBanner() {
  const { state } = useConnection();
  return (
    <div className="connection" role="status" aria-live="polite">
      {state === "lost" && (
        <p className="connection-banner connection-lost">
          <span className="spinner" aria-hidden="true" /> Connection to the dtq server lost. Reconnecting…
        </p>
      )}
      {state === "restored" && <p className="connection-banner connection-restored">Reconnected to the dtq server.</p>}
    </div>
  );
}

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(currentTheme);
  useEffect(() => applyTheme(theme, false), [theme]);
  const dark = theme === "dark";
  return (
    <button
      type="button"
      className="button button-ghost icon-button"
      aria-pressed={dark}
      onClick={() => {
        const next = dark ? "light" : "dark";
        applyTheme(next, true);
        setTheme(next);
      }}
    >
      <Icon name={dark ? "moon" : "sun"} /> Dark mode
    </button>
  );
}

function TokenButton() {
  const token = useToken();
  const requestToken = useTokenPrompt();
  return (
    <button type="button" className="button button-ghost" onClick={() => void requestToken()}>
      <Icon name={token ? "key" : "warning"} /> {token ? "API key set" : "Set API key"}
    </button>
  );
}

export function Layout() {
  // After a navigation, focus goes to the new page (not on the first load),
  // so keyboard and screen-reader users start at its top.
  const { pathname } = useLocation();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: false });
  }, [pathname]);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="header">
        <div className="header-inner">
          <NavLink to="/" className="brand" aria-label="dtq home">
            <span className="brand-mark" aria-hidden="true">
              ◆
            </span>
            dtq
          </NavLink>
          <nav aria-label="Main">
            <ul className="nav">
              <li>
                <NavLink to="/" end>
                  Submit
                </NavLink>
              </li>
              <li>
                <NavLink to="/jobs">Jobs</NavLink>
              </li>
              <li>
                <NavLink to="/plugins">Plugins</NavLink>
              </li>
              <li>
                <NavLink to="/dead-letters">Dead letters</NavLink>
              </li>
            </ul>
          </nav>
          <div className="header-tools">
            <TokenButton />
            <ThemeToggle />
          </div>
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" className="main" tabIndex={-1} ref={main}>
        <Outlet />
      </main>
    </>
  );
}
