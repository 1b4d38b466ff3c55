import type { RuntimeView } from './api.ts';

/** A labelled choice of runtime, as the sessions filter, the playground and the key form offer it. */
export function RuntimeSelect(props: {
  runtimes: RuntimeView[] | undefined;
  value: string;
  onChange: (name: string) => void;
  /** What the empty choice says (`all`, `choose one`). */
  none: string;
  required?: boolean;
  /** Only these runtimes are offered. */
  only?: (runtime: RuntimeView) => boolean;
}) {
  const { runtimes = [], value, onChange, none, required, only = () => true } = props;
  return (
    <label>
      Runtime
      <select value={value} required={required} onChange={(event) => onChange((event.target as HTMLSelectElement).value)}>
        <option value="">{none}</option>
        {runtimes.filter(only).map((runtime) => (
          <option key={runtime.name} value={runtime.name}>
            {runtime.name}
          </option>
        ))}
      </select>
    </label>
  );
}
