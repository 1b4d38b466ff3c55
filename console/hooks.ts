import { useEffect, useRef, useState } from 'preact/hooks';

/** `load` now and every `everyMs` while the page shows; its latest value, or its error. */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[] = []): { value?: T; error?: Error; reload: () => void } {
  const [state, setState] = useState<{ value?: T; error?: Error }>({});
  const [tick, setTick] = useState(0);
  const loading = useRef(load);
  loading.current = load;
  useEffect(() => {
    let live = true;
    const run = (): void => {
      loading.current().then(
        (value) => live && setState({ value }),
        (error: unknown) => live && setState((old) => ({ ...old, error: error as Error })),
      );
    };
    run();
    const timer = setInterval(run, everyMs);
    return () => {
      live = false;
      clearInterval(timer);
    };
    // The caller names what reloads it (deps); `load` itself changes every render.
  }, [...deps, tick, everyMs]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** The hash route (`#/sessions/abc` → ['sessions', 'abc']), kept current. */
export function useRoute(): string[] {
  const read = (): string[] =>
    (location.hash.replace(/^#\/?/, '').split('?')[0] ?? '')
      .split('/')
      .filter(Boolean)
      .map((part) => decodeURIComponent(part));
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = (): void => setRoute(read());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export const href = (...parts: string[]): string => `#/${parts.map(encodeURIComponent).join('/')}`;

/** The hash route's query (`#/sessions?runtime=a`). */
export function routeQuery(): URLSearchParams {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}
