import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ResultCard } from "./ResultCard";

describe("ResultCard", () => {
  it("shows weather as temperature, condition, humidity and wind", () => {
    render(
      <ResultCard
        jobType="weather"
        output={{
          city: "Austin",
          country_code: "US",
          temperature: 22.4,
          temperature_unit: "°C",
          condition: "Partly cloudy",
          humidity_pct: 61,
          wind_kph: 14.8,
        }}
      />,
    );
    expect(screen.getByTestId("temperature").textContent).toBe("22.4°C");
    expect(screen.getByText("Partly cloudy")).toBeTruthy();
    expect(screen.getByText("61 %")).toBeTruthy();
    expect(screen.getByText("14.8 km/h")).toBeTruthy();
    expect(screen.getByText(/in Austin, US/)).toBeTruthy();
  });

  it("shows an exchange rate as the rate and the amount", () => {
    render(
      <ResultCard
        jobType="exchange_rate"
        output={{ base: "USD", target: "EUR", amount: 100, rate: 0.9604, converted: 96.04, date: "2024-11-22" }}
      />,
    );
    expect(screen.getByTestId("conversion").textContent).toBe("100 USD = 96.04 EUR");
    expect(screen.getByText("1 USD = 0.9604 EUR")).toBeTruthy();
  });

  it("shows a GitHub user with avatar, name, repos and followers", () => {
    render(
      <ResultCard
        jobType="github_user"
        output={{
          login: "octocat",
          name: "The Octocat",
          avatar_url: "https://avatars.example/u/1",
          html_url: "https://github.com/octocat",
          public_repos: 8,
          followers: 17324,
          following: 9,
        }}
      />,
    );
    expect(screen.getByRole("img", { name: "The Octocat's avatar" }).getAttribute("src")).toBe("https://avatars.example/u/1");
    expect(screen.getByText("The Octocat")).toBeTruthy();
    expect(screen.getByText("8")).toBeTruthy();
    expect(screen.getByText("17,324")).toBeTruthy();
    expect(screen.getByRole("link", { name: "@octocat" })).toBeTruthy();
  });

  it("shows a quote with its author", () => {
    render(<ResultCard jobType="quote" output={{ quote: "Be yourself.", author: "Oscar Wilde" }} />);
    expect(screen.getByText("Be yourself.").closest("blockquote")).toBeTruthy();
    expect(screen.getByText("— Oscar Wilde")).toBeTruthy();
  });

  it("shows raw JSON for any other type, or an output not in the expected shape", () => {
    const { container, unmount } = render(<ResultCard jobType="dice" output={{ rolled: [3, 6] }} />);
    expect(container.querySelector("pre")?.textContent).toContain('"rolled"');
    unmount();
    const weird = render(<ResultCard jobType="weather" output={{ something: "else" }} />);
    expect(weird.container.querySelector(".result-weather")).toBeNull();
    expect(weird.container.querySelector("pre")?.textContent).toContain('"something": "else"');
  });
});
