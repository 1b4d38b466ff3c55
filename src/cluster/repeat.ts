/**
 * Runs `task` every `intervalMs`, each run starting that long after the last one ended (a slow store never piles
 * runs up), until the returned stop is called. The timer keeps no process alive.
 */
export function repeatEvery(intervalMs: number, task: () => Promise<void>): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = (): void => {
    timer = setTimeout(() => {
      void task().finally(() => {
        if (!stopped) tick();
      });
    }, intervalMs);
    timer.unref();
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
