// The typed API client: openapi-fetch over the generated schema. Paths already carry the
// /api/v1 prefix, so the base is this origin. Adds the bearer token; a 401 signs out.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from '../api/schema';
import { getToken, sessionExpired } from './session';

export type Schemas = components['schemas'];
export type ProviderKey = Schemas['ProviderKey'];
export type Workspace = Schemas['Workspace'];
export type Execution = Schemas['Execution'];
export type Plan = Schemas['Plan'];
export type Me = Schemas['Me'];
export type ProviderId = Schemas['ProviderKeyCreate']['provider'];

export const UNREACHABLE =
  'Cannot reach the FlowTrux API. Check that the gateway is running, then reload.';

/** An API failure: a problem+json answer, or no usable answer at all. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;

  constructor(status: number, code: string, detail: string) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  get unreachable(): boolean {
    return this.code === 'unreachable';
  }
}

function unreachable(status = 0): ApiError {
  return new ApiError(status, 'unreachable', UNREACHABLE);
}

function isProblem(response: Response): boolean {
  const type = response.headers.get('content-type') ?? '';
  return type.includes('json');
}

/** fetch, with "no answer" and gateway errors without a problem body turned into ApiError. */
async function apiFetch(request: Request): Promise<Response> {
  let response: Response;
  try {
    response = await globalThis.fetch(request);
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw unreachable();
  }
  if ([502, 503, 504].includes(response.status) && !isProblem(response)) {
    throw unreachable(response.status);
  }
  return response;
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && request.headers.has('Authorization')) sessionExpired();
    return response;
  },
};

function origin(): string {
  return typeof window !== 'undefined' ? window.location.origin : '';
}

export const api = createClient<paths>({ baseUrl: origin(), fetch: apiFetch });
api.use(auth);

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful answer, or throws ApiError with the problem's detail. */
export function unwrap<T>(result: Result<T>): T {
  const { response } = result;
  if (response.ok) return result.data as T;
  const problem = (result.error ?? {}) as Partial<Schemas['Problem']> & { detail?: unknown };
  const detail =
    typeof problem.detail === 'string' && problem.detail
      ? problem.detail
      : `The API answered ${response.status} ${response.statusText}`.trim();
  const code = typeof problem.code === 'string' ? problem.code : `http_${response.status}`;
  throw new ApiError(response.status, code, detail);
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.detail;
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong.';
}
