import { useState } from 'preact/hooks';
import { list, type RuntimeView, type SessionView } from '../api.ts';
import { href, usePoll } from '../hooks.ts';
import { mcpRequest, type RpcMessage } from '../mcp.ts';
import { ElicitationForm, type InputRequest } from './elicitation.tsx';
import { RuntimeSelect } from '../runtime-select.tsx';

interface Tool {
  name: string;
  description?: string;
  inputSchema?: { properties?: Record<string, { type?: string }> };
}

interface Pending {
  tool: string;
  args: Record<string, unknown>;
  requestState: unknown;
  requests: Record<string, InputRequest>;
}

/**
 * Talk to a runtime as a client would: pick it and a session (a live one, or a new one), list its tools, call one,
 * answer the questions its server asks (elicitation), and watch progress arrive.
 */
export function Playground() {
  const runtimes = usePoll(() => list<RuntimeView>('/v1/runtimes', 'runtimes'), 15_000);
  const [runtime, setRuntime] = useState('');
  const sessions = usePoll(() => (runtime ? list<SessionView>('/v1/sessions', 'sessions', { runtime }) : Promise.resolve([])), 5000, [runtime]);
  const [session, setSession] = useState('');
  const [tools, setTools] = useState<Tool[]>([]);
  const [tool, setTool] = useState('');
  const [args, setArgs] = useState('{}');
  const [events, setEvents] = useState<string[]>([]);
  const [result, setResult] = useState<string | undefined>();
  const [pending, setPending] = useState<Pending | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const ensureSession = (): string => {
    if (session) return session;
    const fresh = crypto.randomUUID();
    setSession(fresh);
    return fresh;
  };
  const heard = (message: RpcMessage): void => {
    const params = message.params ?? {};
    const text =
      message.method === 'notifications/progress'
        ? `progress ${String(params.progress)}${params.total === undefined ? '' : ` of ${String(params.total)}`}${params.message ? `: ${String(params.message)}` : ''}`
        : `${message.method}: ${JSON.stringify(params.data ?? params)}`;
    setEvents((old) => [...old, text]);
  };
  const run = async (work: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (failed) {
      setError((failed as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const listTools = (): Promise<void> =>
    run(async () => {
      const answer = await mcpRequest(runtime, ensureSession(), 'tools/list', {});
      if (answer.error) throw new Error(answer.error.message);
      const found = (answer.result?.tools ?? []) as Tool[];
      setTools(found);
      if (found[0] && !tool) setTool(found[0].name);
    });
  const call = (extra: Record<string, unknown> = {}, parsed?: Record<string, unknown>): Promise<void> =>
    run(async () => {
      const toolArgs = parsed ?? (JSON.parse(args || '{}') as Record<string, unknown>);
      setResult(undefined);
      setPending(undefined);
      const answer = await mcpRequest(runtime, ensureSession(), 'tools/call', { name: tool, arguments: toolArgs, ...extra }, heard);
      if (answer.error) throw new Error(`${answer.error.message} (${answer.error.code})`);
      const value = answer.result ?? {};
      if (value.resultType === 'input_required') {
        setPending({ tool, args: toolArgs, requestState: value.requestState, requests: (value.inputRequests ?? {}) as Record<string, InputRequest> });
        return;
      }
      setResult(resultText(value));
    });
  const answer = (responses: Record<string, unknown>): Promise<void> =>
    call({ inputResponses: responses, ...(pending?.requestState === undefined ? {} : { requestState: pending.requestState }) }, pending?.args);

  return (
    <section aria-labelledby="playground-title">
      <h1 id="playground-title">MCP playground</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <RuntimeSelect
          runtimes={runtimes.value}
          value={runtime}
          onChange={(name) => {
            setRuntime(name);
            setSession('');
            setTools([]);
          }}
          none="choose one"
          only={(r) => r.spec.protocol !== 'http'}
        />
        <label>
          Session
          <select value={session} onChange={(event) => setSession((event.target as HTMLSelectElement).value)} disabled={!runtime}>
            <option value="">a new session</option>
            {session && !(sessions.value ?? []).some((s) => s.id === session) && <option value={session}>{session} (new)</option>}
            {(sessions.value ?? []).map((s) => (
              <option key={s.id} value={s.id}>
                {s.id}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => void listTools()} disabled={!runtime || busy}>
          List tools
        </button>
      </form>
      {session && (
        <p>
          Session: <a href={href('sessions', session)}>{session}</a>
        </p>
      )}
      {tools.length > 0 && (
        <form
          class="call"
          onSubmit={(event) => {
            event.preventDefault();
            void call();
          }}
        >
          <label>
            Tool
            <select value={tool} onChange={(event) => setTool((event.target as HTMLSelectElement).value)}>
              {tools.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
          <p class="help">{tools.find((t) => t.name === tool)?.description ?? ''}</p>
          <label>
            Arguments (JSON)
            <textarea rows={4} value={args} onInput={(event) => setArgs((event.target as HTMLTextAreaElement).value)} />
          </label>
          <button type="submit" disabled={busy}>
            Call {tool}
          </button>
        </form>
      )}
      {pending &&
        Object.entries(pending.requests).map(([key, request]) => (
          <ElicitationForm key={key} request={request} onAnswer={(response) => void answer({ [key]: response })} disabled={busy} />
        ))}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <h2>Progress and notifications</h2>
      <ol class="events" aria-live="polite">
        {events.map((event, i) => (
          <li key={i}>{event}</li>
        ))}
      </ol>
      {result !== undefined && (
        <>
          <h2>Result</h2>
          <pre class="result" data-testid="tool-result">
            {result}
          </pre>
        </>
      )}
    </section>
  );
}

/** A tool result as a person reads it: its text contents as they are, anything else as JSON. */
function resultText(result: Record<string, unknown>): string {
  if (result.structuredContent !== undefined) return JSON.stringify(result.structuredContent, null, 2);
  const content = Array.isArray(result.content) ? (result.content as Array<{ type?: string; text?: string }>) : undefined;
  if (!content) return JSON.stringify(result, null, 2);
  const shown = content.map((item) => (item.type === 'text' && typeof item.text === 'string' ? item.text : JSON.stringify(item, null, 2))).join('\n');
  return result.isError === true ? `The tool failed: ${shown}` : shown;
}
