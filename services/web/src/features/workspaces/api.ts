import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../../lib/api';
import type { RoutingIn } from './routing';
import { afterKeyOrWorkspaceChange, refreshAfter } from '../../lib/queries';

function useInvalidate() {
  const client = useQueryClient();
  return () =>
    refreshAfter(client, afterKeyOrWorkspaceChange);
}

export function useCreateWorkspace() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: async (name: string) =>
      unwrap(await api.POST('/api/v1/workspaces', { body: { name } })),
    onSuccess: invalidate,
  });
}

export function useUpdateWorkspace() {
  const invalidate = useInvalidate();
  return useMutation({
    mutationFn: async ({
      id,
      ...body
    }: {
      id: string;
      name: string;
      ai_provider_ids: string[];
      // Sent only when given: null clears the budget, an absent field leaves it.
      budget_usd_monthly?: number | null;
      routing: RoutingIn;
      max_tokens_cap: number | null;
    }) =>
      unwrap(
        await api.PATCH('/api/v1/workspaces/{workspace_id}', {
          params: { path: { workspace_id: id } },
          body,
        }),
      ),
    onSuccess: invalidate,
  });
}
