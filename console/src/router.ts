// The console's own routes under /console/ (the server answers index.html for each, src/console/serve.ts).
import { useEffect, useState } from "preact/hooks";

const BASE = "/console/";

export function currentRoute(): string {
  const p = location.pathname;
  return p.startsWith(BASE) ? p.slice(BASE.length).replace(/\/+$/, "") : "";
}

export function navigate(route: string): void {
  history.pushState(null, "", BASE + route);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): string {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return route;
}

/** An in-console link: a real href (open in a new tab works), navigation without a reload. */
export function linkProps(route: string) {
  return {
    href: BASE + route,
    onClick: (e: MouseEvent) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
      e.preventDefault();
      navigate(route);
    },
  };
}
