"""shared.http: httpx clients on aiohttp's pool behave like httpx clients, on a real socket."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import httpx
import pytest

from shared.http import AiohttpTransport, direct_client, pooled_client
from shared.web import read_body
from tests.support.servers import free_port, serve


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    path = scope["path"]
    status, headers, out = 200, [(b"content-type", b"application/json")], b""
    if path == "/echo":
        out = json.dumps(
            {
                "method": scope["method"],
                "query": scope["query_string"].decode(),
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "body": body.decode(),
            }
        ).encode()
    elif path == "/slow":
        await asyncio.sleep(2)
        out = b"{}"
    elif path == "/gzip":
        out = gzip.compress(b'{"zipped": true}')
        headers.append((b"content-encoding", b"gzip"))
    elif path == "/big":
        out = b"x" * 5000
    elif path == "/teapot":
        status, out = 418, b'{"error": {"message": "short and stout"}}'
        headers.append((b"retry-after", b"3"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": out})


async def test_requests_and_responses_round_trip() -> None:
    async with serve(app) as url:
        client = pooled_client(
            max_connections=4,
            timeout=httpx.Timeout(5),
            base_url=url,
            headers={"Authorization": "Bearer svc-token"},
        )
        async with client:
            r = await client.post("/echo", params={"a": "1"}, json={"hello": "wörld"})
            assert r.status_code == 200
            seen = r.json()
            assert seen["method"] == "POST"
            assert seen["query"] == "a=1"
            assert seen["headers"]["authorization"] == "Bearer svc-token"
            assert seen["headers"]["content-type"] == "application/json"
            assert seen["headers"]["host"] == url.removeprefix("http://")
            assert json.loads(seen["body"]) == {"hello": "wörld"}
            assert (await client.get("/gzip")).json() == {"zipped": True}
            teapot = await client.get("/teapot")
            assert teapot.status_code == 418
            assert teapot.headers["retry-after"] == "3"
            assert teapot.json()["error"]["message"] == "short and stout"
            many = await asyncio.gather(*(client.get("/echo") for _ in range(20)))
            assert {m.status_code for m in many} == {200}  # 20 requests over 4 connections


async def test_failures_are_httpx_errors() -> None:
    async with serve(app) as url:
        slow = pooled_client(max_connections=2, timeout=httpx.Timeout(0.2), base_url=url)
        async with slow:
            with pytest.raises(httpx.ReadTimeout):
                await slow.get("/slow")
        small = httpx.AsyncClient(
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=2), max_body=1000),
            base_url=url,
        )
        async with small:
            with pytest.raises(httpx.RemoteProtocolError, match="exceeds 1000"):
                await small.get("/big")
    closed = pooled_client(max_connections=2, timeout=httpx.Timeout(2))
    async with closed:
        with pytest.raises(httpx.ConnectError):
            await closed.get(f"http://127.0.0.1:{free_port()}/")


async def test_direct_client_posts_on_the_transport() -> None:
    async with serve(app) as url:
        direct = direct_client(max_connections=4, timeout=httpx.Timeout(0.3))
        try:
            r = await direct.post(
                f"{url}/echo",
                headers={"x-api-key": "k-123", "content-type": "application/json"},
                content=b'{"a": 1}',
            )
            assert r.status_code == 200
            seen = r.json()
            assert seen["headers"]["x-api-key"] == "k-123"
            assert seen["headers"]["content-length"] == "8"
            assert seen["body"] == '{"a": 1}'
            again = await direct.post(f"{url}/teapot", headers={}, content=b"")
            assert again.status_code == 418
            with pytest.raises(httpx.ReadTimeout):
                await direct.post(f"{url}/slow", headers={}, content=b"{}")
        finally:
            await direct.aclose()
