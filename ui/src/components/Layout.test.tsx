import { act, fireEvent, screen } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { FakeGraphQL, renderApp } from "../test/helpers";
import { Layout } from "./Layout";

function renderLayout() {
  return renderApp(
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<p>page</p>} />
      </Route>
    </Routes>,
    { server: new FakeGraphQL({}) },
  );
}

describe("Layout", () => {
  it("says when the connection is lost and when it is back", () => {
    const { services } = renderLayout();
    expect(screen.queryByText(/Connection to the dtq server lost/)).toBeNull();
    act(() => services.connection.reportLost());
    expect(screen.getByText(/Connection to the dtq server lost\. Reconnecting/)).toBeTruthy();
    act(() => services.connection.reportConnected());
    expect(screen.getByText("Reconnected to the dtq server.")).toBeTruthy();
  });

  it("keeps the token entered once, and the theme", () => {
    renderLayout();
    fireEvent.click(screen.getByRole("button", { name: "Set API key" }));
    fireEvent.change(screen.getByLabelText("Key"), { target: { value: "abc" } });
    fireEvent.click(screen.getByRole("button", { name: "Save key" }));
    expect(screen.getByRole("button", { name: "API key set" })).toBeTruthy();
    expect(localStorage.getItem("dtq.token")).toBe("abc");

    const toggle = screen.getByRole("button", { name: "Dark mode" });
    const before = toggle.getAttribute("aria-pressed");
    fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-pressed")).not.toBe(before);
    expect(localStorage.getItem("dtq.theme")).toBe(document.documentElement.dataset.theme);
  });

  it("offers a way past the navigation", () => {
    renderLayout();
    expect(screen.getByRole("link", { name: "Skip to content" }).getAttribute("href")).toBe("#main");
    expect(screen.getByRole("navigation", { name: "Main" })).toBeTruthy();
  });
});
