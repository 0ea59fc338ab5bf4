import { useEffect } from "react";

/** The tab's title for the page shown: "Jobs · dtq". */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · dtq` : "dtq";
  }, [title]);
}
