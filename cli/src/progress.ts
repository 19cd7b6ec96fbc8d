import { SingleBar, Presets } from 'cli-progress';

/** A progress reporter: a bar on an interactive terminal, nothing otherwise (logs stay clean). */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** Creates a progress bar on stderr titled `label`, or a silent reporter when not interactive. */
export function createProgress(label: string, interactive: boolean): Progress {
  if (!interactive) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | eta {eta}s`,
      stream: process.stderr,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
