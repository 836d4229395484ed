import { useId, useState, type FormEvent } from 'react';
import { useParams } from 'react-router-dom';
import { DataTable, QueryStatus } from '../../components/DataTable';
import { ErrorAlert } from '../../components/ErrorAlert';
import { Section } from '../../components/Section';
import { ApiError, type Execution } from '../../lib/api';
import { PROVIDERS, formatDateTime, formatInt, formatUsd, providerName, withArticle } from '../../lib/format';
import { useRecentRuns, useRun, useWorkspace, useWorkspaceModels } from './api';

export const NO_MODEL =
  'No AI provider is assigned to this workspace. An OWNER can assign one in Settings › Workspaces › Edit.';

/** /workspaces/:id — the workspace's Agent node and its recent runs. */
export function WorkspaceDetailPage() {
  const { workspaceId = '' } = useParams();
  const workspace = useWorkspace(workspaceId);
  return (
    <>
      <h1>{workspace.data?.name ?? (workspace.isPending ? 'Workspace' : 'Workspace not found')}</h1>
      <ErrorAlert error={workspace.error} />
      {workspace.data && (
        <>
          <AgentNode workspaceId={workspaceId} maxTokensCap={workspace.data.max_tokens_cap ?? null} />
          <RecentRuns workspaceId={workspaceId} />
        </>
      )}
    </>
  );
}

/** Output tokens a test run asks for: the default, or less when the workspace caps it. */
export const DEFAULT_MAX_TOKENS = 1024;

function AgentNode({ workspaceId, maxTokensCap }: { workspaceId: string; maxTokensCap: number | null }) {
  const models = useWorkspaceModels(workspaceId);
  const run = useRun(workspaceId);
  const [chosen, setChosen] = useState('');
  const [prompt, setPrompt] = useState('');
  const [promptProblem, setPromptProblem] = useState<string | null>(null);
  const ids = { model: useId(), prompt: useId(), promptErr: useId() };

  const list = models.data ?? [];
  const model = list.some((m) => m.id === chosen) ? chosen : (list[0]?.id ?? '');
  const providerOf = (id: string | null | undefined) => list.find((m) => m.id === id)?.provider;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!model || run.isPending) return;
    if (!prompt.trim()) {
      setPromptProblem('Enter a prompt.');
      return;
    }
    setPromptProblem(null);
    run.mutate({
      model,
      prompt,
      idempotencyKey: crypto.randomUUID(),
      maxTokens: Math.min(DEFAULT_MAX_TOKENS, maxTokensCap ?? DEFAULT_MAX_TOKENS),
    });
  };

  return (
    <Section title="Agent node" className="card agent">
      <QueryStatus errors={[models.error]} pending={models.isPending} what="models" />
      <form onSubmit={submit} className="stack" noValidate>
        {models.data && list.length === 0 && <p className="alert alert-info">{NO_MODEL}</p>}
        {list.length > 0 && (
          <>
            <label htmlFor={ids.model}>Model</label>
            <select id={ids.model} value={model} onChange={(e) => setChosen(e.target.value)}>
              {PROVIDERS.map((provider) => {
                const ofProvider = list.filter((m) => m.provider === provider.id);
                if (ofProvider.length === 0) return null;
                return (
                  <optgroup key={provider.id} label={provider.name}>
                    {ofProvider.map((m) => (
                      <option key={m.id} value={m.id}>
                        {`${m.id} — ${m.best_for}`}
                      </option>
                    ))}
                  </optgroup>
                );
              })}
            </select>
          </>
        )}
        <label htmlFor={ids.prompt}>Prompt</label>
        <textarea
          id={ids.prompt}
          rows={4}
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          aria-invalid={promptProblem ? true : undefined}
          aria-describedby={promptProblem ? ids.promptErr : undefined}
        />
        {promptProblem && (
          <p id={ids.promptErr} role="alert" className="field-error">
            {promptProblem}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={!model || run.isPending}>
            Run
          </button>
        </div>
      </form>
      {(run.isPending || run.data || run.error) && (
        <Result
          pending={run.isPending}
          execution={run.data}
          error={run.error}
          provider={run.data?.provider ?? providerOf(run.data?.model ?? run.variables?.model)}
        />
      )}
    </Section>
  );
}

function Result({
  pending,
  execution,
  error,
  provider,
}: {
  pending: boolean;
  execution: Execution | undefined;
  error: unknown;
  provider: string | null | undefined;
}) {
  const headingId = useId();
  return (
    <section aria-labelledby={headingId} className="result" aria-busy={pending}>
      <h3 id={headingId}>Result</h3>
      {pending && <p role="status">Running…</p>}
      {!pending && error !== null && error !== undefined && (
        <ErrorAlert error={error}>
          <RunErrorHint error={error} />
        </ErrorAlert>
      )}
      {!pending && execution && <ExecutionResult execution={execution} provider={provider} />}
    </section>
  );
}

export const RATE_LIMITED_HINT =
  'Too many test runs: this organization has reached its rate of test runs. Wait, then Run again.';
export const IDEMPOTENCY_HINT =
  'This request repeated an earlier run’s Idempotency-Key with a different model or prompt; Run again to start a new run.';

/** What to do about a refused test run (rate limit, idempotency conflict, max_tokens cap). */
function RunErrorHint({ error }: { error: unknown }) {
  if (!(error instanceof ApiError)) return null;
  if (error.code === 'rate_limited') return <p>{RATE_LIMITED_HINT}</p>;
  if (error.code === 'idempotency_conflict') return <p>{IDEMPOTENCY_HINT}</p>;
  return null;
}

function ExecutionResult({ execution, provider }: { execution: Execution; provider: string | null | undefined }) {
  const usage = execution.usage;
  return (
    <>
      <p>
        Status: <strong>{execution.status}</strong> · Model <code>{execution.model}</code>
      </p>
      {execution.status === 'failed' && execution.error && (
        <div role="alert" className="alert alert-error">
          <p>{execution.error.message}</p>
          {execution.error.code === 'provider_not_configured' && (
            <p>{`Assign ${withArticle(providerName(provider))} key to this workspace in Settings › Workspaces › Edit.`}</p>
          )}
        </div>
      )}
      {execution.status === 'queued' && <p>The run has not finished yet; see Recent runs.</p>}
      {execution.output && <pre className="output">{execution.output.text}</pre>}
      <ul className="facts">
        <li>Key: {execution.key_name ?? '—'}</li>
        <li>
          Tokens: {usage ? `${usage.input_tokens} in / ${usage.output_tokens} out` : '—'}
        </li>
        <li>Cost: {usage ? formatUsd(usage.cost_usd) : '—'}</li>
        <li>Duration: {execution.duration_ms ?? '—'} ms</li>
      </ul>
    </>
  );
}

function RecentRuns({ workspaceId }: { workspaceId: string }) {
  const runs = useRecentRuns(workspaceId);
  const headingId = useId();
  return (
    <Section title="Recent runs" headingId={headingId} className="recent">
      <QueryStatus errors={[runs.error]} pending={runs.isPending} what="recent runs" />
      {runs.data?.length === 0 && <p className="muted">No runs yet.</p>}
      {runs.data && runs.data.length > 0 && (
        <DataTable labelledBy={headingId} columns={['Time', 'Model', 'Status', 'Key', 'Tokens', 'Cost', 'Duration']}>
              {runs.data.map((e) => (
                <tr key={e.execution_id}>
                  <td>{formatDateTime(e.requested_at ?? e.finished_at)}</td>
                  <td>
                    <code>{e.model}</code>
                  </td>
                  <td>{e.status}</td>
                  <td>{e.key_name ?? '—'}</td>
                  <td className="num">
                    {e.usage ? `${formatInt(e.usage.input_tokens)} / ${formatInt(e.usage.output_tokens)}` : '—'}
                  </td>
                  <td className="num">{e.usage ? formatUsd(e.usage.cost_usd) : '—'}</td>
                  <td className="num">{e.duration_ms !== null && e.duration_ms !== undefined ? `${e.duration_ms} ms` : '—'}</td>
                </tr>
              ))}
        </DataTable>
      )}
    </Section>
  );
}
