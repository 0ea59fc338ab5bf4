import { Link, Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { TokenPromptProvider } from "./components/TokenDialog";
import { DeadLettersPage } from "./pages/DeadLettersPage";
import { JobPage } from "./pages/JobPage";
import { JobsPage } from "./pages/JobsPage";
import { PluginsPage } from "./pages/PluginsPage";
import { SubmitPage } from "./pages/SubmitPage";

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Submit a job</Link> or <Link to="/jobs">see the jobs</Link>.
      </p>
    </div>
  );
}

/** The routes; the router and the services are supplied by main.tsx (or a test). */
export function App() {
  return (
    <TokenPromptProvider>
      <Routes>
        <Route element={<Layout />}>
          <Route index element={<SubmitPage />} />
          <Route path="jobs" element={<JobsPage />} />
          <Route path="jobs/:id" element={<JobPage />} />
          <Route path="plugins" element={<PluginsPage />} />
          <Route path="dead-letters" element={<DeadLettersPage />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </TokenPromptProvider>
  );
}
