import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type Execution } from '../../lib/api';
import { queryKeys, refreshAfter } from '../../lib/queries';

export function useWorkspace(id: string) {
  return useQuery({
    queryKey: queryKeys.workspace(id),
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/workspaces/{workspace_id}', { params: { path: { workspace_id: id } } })),
  });
}

export function useWorkspaceModels(id: string) {
  return useQuery({
    queryKey: queryKeys.workspaceModels(id),
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/workspaces/{workspace_id}/models', { params: { path: { workspace_id: id } } }),
      ).items,
  });
}

export function useRecentRuns(id: string) {
  return useQuery({
    queryKey: queryKeys.executions(id),
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/workspaces/{workspace_id}/executions', {
          params: { path: { workspace_id: id }, query: { limit: 20 } },
        }),
      ).items,
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const POLL_MS = 500;
const POLL_LIMIT_MS = 180_000;

/** Polls a queued execution until it has finished. */
async function waitFor(executionId: string): Promise<Execution> {
  const until = Date.now() + POLL_LIMIT_MS;
  for (;;) {
    const execution = unwrap(
      await api.GET('/api/v1/executions/{execution_id}', {
        params: { path: { execution_id: executionId } },
      }),
    );
    if (execution.status !== 'queued' || Date.now() > until) return execution;
    await sleep(POLL_MS);
  }
}

export function useRun(workspaceId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({
      model,
      prompt,
      idempotencyKey,
      maxTokens,
    }: {
      model: string;
      prompt: string;
      maxTokens: number;
      /** One per "Run": a repeated request (a retry) answers the same execution. */
      idempotencyKey: string;
    }): Promise<Execution> => {
      const answer = unwrap(
        await api.POST('/api/v1/workspaces/{workspace_id}/executions', {
          params: { path: { workspace_id: workspaceId }, header: { 'Idempotency-Key': idempotencyKey } },
          body: {
            model,
            input: { messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens },
            wait_seconds: 30,
          },
        }),
      );
      if ('model' in answer && answer.status !== 'queued') return answer;
      return waitFor(answer.execution_id);
    },
    onSettled: () =>
      refreshAfter(client, [queryKeys.executions(workspaceId), ['usage'], ['plan'], ['provider-keys']]),
  });
}
