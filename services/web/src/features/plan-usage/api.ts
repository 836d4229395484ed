import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../../lib/api';

export type GroupBy = 'key' | 'workspace' | 'model';

export function useUsage(groupBy: GroupBy, since: string, byDay: boolean) {
  return useQuery({
    queryKey: ['usage', groupBy, since, byDay ? 'day' : 'total'],
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/usage', {
          params: { query: { group_by: groupBy, since, ...(byDay ? { interval: 'day' as const } : {}) } },
        }),
      ).items,
  });
}

/** The organization's recent alerts (budget thresholds and keys about to expire), newest first. */
export function useAlerts() {
  return useQuery({
    queryKey: ['alerts'],
    queryFn: async () => unwrap(await api.GET('/api/v1/alerts', { params: { query: { limit: 50 } } })).items,
  });
}
