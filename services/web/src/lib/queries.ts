// Query keys and the reads several features share (TanStack Query is the only cache).
import { type QueryClient, type QueryKey, useQuery } from '@tanstack/react-query';
import { api, unwrap } from './api';

export const queryKeys = {
  me: ['me'] as const,
  authOptions: ['auth-options'] as const,
  providerKeys: ['provider-keys'] as const,
  workspaces: ['workspaces'] as const,
  workspace: (id: string) => ['workspace', id] as const,
  workspaceModels: (id: string) => ['workspace-models', id] as const,
  executions: (id: string) => ['executions', id] as const,
  catalog: ['catalog'] as const,
  plan: ['plan'] as const,
  usage: ['usage'] as const,
  audit: ['audit'] as const,
};

/** Everything that shows keys or what they are assigned to, after a key or workspace change. */
export const afterKeyOrWorkspaceChange: readonly (readonly string[])[] = [
  ['provider-keys'],
  ['workspaces'],
  ['workspace'],
  ['workspace-models'],
  ['plan'],
  ['usage'],
  ['audit'],
];

/**
 * Reload what a change made out of date. A load still in flight (a page's first one) was asked
 * before the change: an invalidation alone would join it and keep its stale answer, so each is
 * cancelled first and asked again.
 */
export function refreshAfter(client: QueryClient, keys: readonly QueryKey[]): Promise<void[]> {
  return Promise.all(
    keys.map(async (queryKey) => {
      await client.cancelQueries({ queryKey });
      await client.invalidateQueries({ queryKey });
    }),
  );
}

export function useMe() {
  return useQuery({
    queryKey: queryKeys.me,
    queryFn: async () => unwrap(await api.GET('/api/v1/me')),
    staleTime: 60_000,
  });
}

export function useProviderKeys(enabled = true) {
  return useQuery({
    queryKey: queryKeys.providerKeys,
    queryFn: async () => unwrap(await api.GET('/api/v1/ai-providers')).items,
    enabled,
  });
}

export function useWorkspaces() {
  return useQuery({
    queryKey: queryKeys.workspaces,
    queryFn: async () => unwrap(await api.GET('/api/v1/workspaces')).items,
  });
}

export function useCatalog() {
  return useQuery({
    queryKey: queryKeys.catalog,
    queryFn: async () => unwrap(await api.GET('/api/v1/catalog')).providers,
    staleTime: 5 * 60_000,
  });
}

export function usePlan() {
  return useQuery({
    queryKey: queryKeys.plan,
    queryFn: async () => unwrap(await api.GET('/api/v1/plan')),
  });
}
