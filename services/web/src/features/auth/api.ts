import { useMutation, useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../../lib/api';
import { queryKeys } from '../../lib/queries';

export function useAuthOptions() {
  return useQuery({
    queryKey: queryKeys.authOptions,
    queryFn: async () => unwrap(await api.GET('/api/v1/auth/options')),
    staleTime: Infinity,
  });
}

export type Role = 'OWNER' | 'ADMIN' | 'MEMBER';

export function useDevSignIn() {
  return useMutation({
    mutationFn: async (body: { org_id: string; role: Role }) =>
      unwrap(await api.POST('/api/v1/dev/sign-in', { body })).token,
  });
}
