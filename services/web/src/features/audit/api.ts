import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../../lib/api';

export const PAGE_SIZE = 100;

export function useAuditPage(keyId: string, cursor: string | null) {
  return useQuery({
    queryKey: ['audit', keyId, cursor],
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/audit', {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(cursor ? { cursor } : {}),
              ...(keyId ? { key_id: keyId } : {}),
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}
