import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type ProviderId } from '../../lib/api';
import { afterKeyOrWorkspaceChange, refreshAfter } from '../../lib/queries';
import { utcMonthStart } from '../../lib/format';

/** Cost of each key since the start of the UTC month, by key id. */
export function useCostThisMonth() {
  return useQuery({
    queryKey: ['usage', 'key', 'month'],
    queryFn: async () => {
      const rows = unwrap(
        await api.GET('/api/v1/usage', {
          params: { query: { group_by: 'key', since: utcMonthStart() } },
        }),
      ).items;
      const byKey = new Map<string, number>();
      for (const row of rows) {
        if (row.key_id) byKey.set(row.key_id, (byKey.get(row.key_id) ?? 0) + (row.cost_usd ?? 0));
      }
      return byKey;
    },
  });
}

function useInvalidateAfterChange() {
  const client = useQueryClient();
  return () =>
    refreshAfter(client, afterKeyOrWorkspaceChange);
}

export interface NewProviderKey {
  provider: ProviderId;
  name: string;
  api_key: string;
  verify: boolean;
}

export function useCreateProviderKey() {
  const invalidate = useInvalidateAfterChange();
  return useMutation({
    mutationFn: async (body: NewProviderKey) =>
      unwrap(await api.POST('/api/v1/ai-providers', { body })),
    onSuccess: invalidate,
  });
}

export function useUpdateProviderKey() {
  const invalidate = useInvalidateAfterChange();
  return useMutation({
    mutationFn: async ({
      id,
      body,
    }: {
      id: string;
      body:
        | { name: string }
        | { api_key: string; verify: boolean }
        | { budget_usd_monthly: number | null; expires_at: string | null };
    }) =>
      unwrap(
        await api.PATCH('/api/v1/ai-providers/{key_id}', {
          params: { path: { key_id: id } },
          body,
        }),
      ),
    onSuccess: invalidate,
  });
}

export function useDeleteProviderKey() {
  const invalidate = useInvalidateAfterChange();
  return useMutation({
    mutationFn: async (id: string) => {
      unwrap(
        await api.DELETE('/api/v1/ai-providers/{key_id}', { params: { path: { key_id: id } } }),
      );
    },
    onSuccess: invalidate,
  });
}
