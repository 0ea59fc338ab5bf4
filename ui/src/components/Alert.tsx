import type { ReactNode } from "react";

/** A message in the flow of the page; errors are announced at once (role=alert). */
export function Alert({
  kind = "error",
  title,
  children,
  action,
}: {
  kind?: "error" | "info" | "success" | "warning";
  title?: string;
  children?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className={`alert alert-${kind}`} role={kind === "error" ? "alert" : "status"}>
      <div className="alert-body">
        {title && <strong className="alert-title">{title}</strong>}
        {children && <div>{children}</div>}
      </div>
      {action && <div className="alert-action">{action}</div>}
    </div>
  );
}
