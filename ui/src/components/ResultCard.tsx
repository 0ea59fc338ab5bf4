// A job's output as a readable card for the job types dtq ships, and as
// JSON for any other type (or an output that is not in the expected shape).
import { useState, type ReactNode } from "react";
import { formatNumber } from "../lib/format";

type Output = Record<string, unknown>;

const isObject = (value: unknown): value is Output =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const str = (value: unknown): string | undefined => (typeof value === "string" && value ? value : undefined);
const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

function Stat({ label, value }: { label: string; value: ReactNode }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function Weather({ output }: { output: Output }) {
  const temperature = num(output.temperature);
  if (temperature === undefined || !str(output.condition)) return null;
  const place = [str(output.city), str(output.country_code)].filter(Boolean).join(", ");
  return (
    <div className="result result-weather">
      <p className="result-eyebrow">Current weather{place && ` in ${place}`}</p>
      <p className="result-hero">
        <span data-testid="temperature">
          {formatNumber(temperature, 1)}
          {str(output.temperature_unit) ?? "°"}
        </span>
        <span className="result-hero-sub">{str(output.condition)}</span>
      </p>
      <dl className="stats">
        <Stat label="Humidity" value={`${formatNumber(output.humidity_pct, 0)} %`} />
        <Stat label="Wind" value={`${formatNumber(output.wind_kph, 1)} km/h`} />
        {str(output.observed_at) && <Stat label="Observed" value={`${str(output.observed_at)} (GMT)`} />}
      </dl>
    </div>
  );
}

function ExchangeRate({ output }: { output: Output }) {
  const rate = num(output.rate);
  const base = str(output.base);
  const target = str(output.target);
  if (rate === undefined || !base || !target) return null;
  const amount = num(output.amount) ?? 1;
  const converted = num(output.converted) ?? amount * rate;
  return (
    <div className="result result-exchange">
      <p className="result-eyebrow">Exchange rate{str(output.date) && ` of ${str(output.date)}`}</p>
      <p className="result-hero">
        <span data-testid="conversion">
          {formatNumber(amount)} {base} = {formatNumber(converted, 4)} {target}
        </span>
      </p>
      <dl className="stats">
        <Stat label="Rate" value={`1 ${base} = ${formatNumber(rate, 6)} ${target}`} />
        <Stat label="Amount" value={`${formatNumber(amount)} ${base}`} />
        {str(output.source) && <Stat label="Source" value={str(output.source)} />}
      </dl>
    </div>
  );
}

function Avatar({ url, name }: { url: string | undefined; name: string }) {
  const [failed, setFailed] = useState(false);
  const initials = name
    .split(/\s+/)
    .map((part) => part[0] ?? "")
    .join("")
    .slice(0, 2)
    .toUpperCase();
  if (!url || failed) {
    return (
      <span className="avatar avatar-fallback" aria-hidden="true">
        {initials}
      </span>
    );
  }
  return <img className="avatar" src={url} alt={`${name}'s avatar`} width={72} height={72} onError={() => setFailed(true)} />;
}

function GithubUser({ output }: { output: Output }) {
  const login = str(output.login);
  if (!login) return null;
  const name = str(output.name) ?? login;
  const url = str(output.html_url);
  return (
    <div className="result result-github">
      <div className="profile">
        <Avatar url={str(output.avatar_url)} name={name} />
        <div>
          <p className="result-title">{name}</p>
          <p className="muted">
            {url ? (
              <a href={url} target="_blank" rel="noreferrer noopener">
                @{login}
              </a>
            ) : (
              `@${login}`
            )}
            {str(output.location) && ` · ${str(output.location)}`}
          </p>
          {str(output.bio) && <p>{str(output.bio)}</p>}
        </div>
      </div>
      <dl className="stats">
        <Stat label="Public repos" value={formatNumber(output.public_repos, 0)} />
        <Stat label="Followers" value={formatNumber(output.followers, 0)} />
        <Stat label="Following" value={formatNumber(output.following, 0)} />
        {str(output.company) && <Stat label="Company" value={str(output.company)} />}
      </dl>
    </div>
  );
}

function Quote({ output }: { output: Output }) {
  const text = str(output.quote);
  if (!text) return null;
  return (
    <figure className="result result-quote">
      <blockquote>
        <p>{text}</p>
      </blockquote>
      <figcaption>— {str(output.author) ?? "Unknown"}</figcaption>
    </figure>
  );
}

// Each view returns null when the output is not in its shape, so the caller
// can fall back to JSON; they are called as functions for that, and so use no
// hooks themselves (Avatar, a component of its own, may).
const VIEWS: Record<string, (props: { output: Output }) => ReactNode> = {
  weather: Weather,
  exchange_rate: ExchangeRate,
  github_user: GithubUser,
  quote: Quote,
};

export function RawJson({ value }: { value: unknown }) {
  return (
    <pre className="json" tabIndex={0} aria-label="JSON">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function ResultCard({ jobType, output }: { jobType: string; output: unknown }) {
  const View = VIEWS[jobType];
  const card = View && isObject(output) ? View({ output }) : null;
  if (!card) return <RawJson value={output} />;
  return (
    <>
      {card}
      <details className="raw">
        <summary>Raw output</summary>
        <RawJson value={output} />
      </details>
    </>
  );
}
