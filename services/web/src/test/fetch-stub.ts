// A small fetch stub: answers by "METHOD /path" (path without the query), records every call.
import { vi } from 'vitest';

export interface Call {
  method: string;
  path: string;
  url: string;
  body: unknown;
  headers: Headers;
}

type Answer = Response | { status?: number; body?: unknown };
/** A handler may answer later (a Promise): a slow server. */
type Handler = (call: Call) => Answer | Promise<Answer>;
export type Routes = Record<string, Handler | Record<string, unknown>>;

export function json(body: unknown, status = 200): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });
}

export function problem(status: number, code: string, detail: string): Response {
  return json({ type: `https://flowtrux.dev/problems/${code}`, title: code, status, detail, code }, status);
}

export function stubFetch(routes: Routes) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    const call: Call = {
      method: request.method,
      path: url.pathname,
      url: request.url,
      body: text ? JSON.parse(text) : undefined,
      headers: request.headers,
    };
    calls.push(call);
    const route = routes[`${call.method} ${call.path}`];
    if (route === undefined) return problem(404, 'not_found', `No stub for ${call.method} ${call.path}`);
    if (typeof route === 'function') {
      const answer = await (route as Handler)(call);
      if (answer instanceof Response) return answer;
      return json(answer.body, answer.status ?? 200);
    }
    return json(route);
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    calls,
    fetchMock,
    sent: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path),
  };
}
