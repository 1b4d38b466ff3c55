import { useState } from 'preact/hooks';

export interface InputRequest {
  method: string;
  params?: {
    message?: string;
    requestedSchema?: { properties?: Record<string, { type?: string; title?: string; description?: string; enum?: string[] }>; required?: string[] };
  };
}

/**
 * A question the server asks mid-call (elicitation/create, form mode) as a form: a field per property of its schema,
 * then Accept, Decline or Cancel. Other kinds of question (sampling, roots) are declined: the playground has no model
 * and no files to offer.
 */
export function ElicitationForm({ request, onAnswer, disabled }: { request: InputRequest; onAnswer: (response: unknown) => void; disabled: boolean }) {
  const properties = request.params?.requestedSchema?.properties ?? {};
  const required = new Set(request.params?.requestedSchema?.required ?? []);
  const [values, setValues] = useState<Record<string, unknown>>({});
  if (request.method !== 'elicitation/create') {
    return (
      <div class="question" role="group" aria-label="The server's question">
        <p>The server asks for {request.method}, which the playground cannot answer.</p>
        <button type="button" onClick={() => onAnswer({ action: 'decline' })} disabled={disabled}>
          Decline
        </button>
      </div>
    );
  }
  return (
    <form
      class="question"
      aria-label="The server's question"
      onSubmit={(event) => {
        event.preventDefault();
        onAnswer({ action: 'accept', content: values });
      }}
    >
      <p>
        <strong>The server asks:</strong> {request.params?.message ?? ''}
      </p>
      {Object.entries(properties).map(([name, schema]) => {
        const id = `field-${name}`;
        const label = schema.title ?? name;
        if (schema.type === 'boolean') {
          return (
            <label key={name} for={id} class="check">
              <input
                id={id}
                type="checkbox"
                checked={values[name] === true}
                onChange={(event) => setValues({ ...values, [name]: (event.target as HTMLInputElement).checked })}
              />
              {label}
            </label>
          );
        }
        if (schema.enum) {
          return (
            <label key={name} for={id}>
              {label}
              <select id={id} required={required.has(name)} onChange={(event) => setValues({ ...values, [name]: (event.target as HTMLSelectElement).value })}>
                <option value="">choose</option>
                {schema.enum.map((option) => (
                  <option key={option}>{option}</option>
                ))}
              </select>
            </label>
          );
        }
        const numeric = schema.type === 'number' || schema.type === 'integer';
        const set = (event: Event): void => {
          const raw = (event.target as HTMLInputElement).value;
          setValues({ ...values, [name]: numeric ? Number(raw) : raw });
        };
        return (
          <label key={name} for={id}>
            {label}
            {numeric ? (
              <input id={id} type="number" required={required.has(name)} onInput={set} />
            ) : (
              <input id={id} type="text" required={required.has(name)} onInput={set} />
            )}
          </label>
        );
      })}
      <div class="actions">
        <button type="submit" disabled={disabled}>
          Accept
        </button>
        <button type="button" onClick={() => onAnswer({ action: 'decline' })} disabled={disabled}>
          Decline
        </button>
        <button type="button" onClick={() => onAnswer({ action: 'cancel' })} disabled={disabled}>
          Cancel
        </button>
      </div>
    </form>
  );
}
