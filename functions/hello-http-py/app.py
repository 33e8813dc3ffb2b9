"""A wasi:http/proxy component in Python (built with componentize-py): the same file runs on
Skiff, `wasmtime serve` and Spin.

It answers with the request's method, path, a header and its body, and counts its calls in a
global: an instance that is kept warm remembers the count between calls. For the tests of
failures: `/fail` answers 500, `/trap` raises (the instance traps), `/sleep?s=N` sleeps and
`/grow?mb=N` keeps N more MB in a global. `/stream?n=N&ms=M` streams N lines, M ms apart
(`&trap=1`: then raises, leaving the body unfinished). `/duplex` writes back each chunk of the
request body as it arrives, before the rest is sent."""
import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields, IncomingBody, IncomingRequest, Method_Other, OutgoingBody, OutgoingResponse, ResponseOutparam,
)

CALLS = 0
KEPT = []


def method_name(method) -> str:
    if isinstance(method, Method_Other):
        return method.value
    return type(method).__name__.removeprefix("Method_").upper()


def chunks(request: IncomingRequest):
    """The request body's chunks, as they arrive."""
    body = request.consume()
    with body.stream() as stream:
        while True:
            try:
                yield stream.blocking_read(65536)
            except Err as e:
                if isinstance(e.value, StreamError_Closed):
                    break
                raise
    IncomingBody.finish(body)


def read_body(request: IncomingRequest) -> bytes:
    return b"".join(chunks(request))


def respond(response_out: ResponseOutparam, status: int, text: str) -> None:
    headers = Fields.from_list([("content-type", b"application/json"), ("x-skiff-example", b"hello-http-py")])
    response = OutgoingResponse(headers)
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    data = text.encode()
    with body.write() as stream:
        for i in range(0, len(data), 4096):
            stream.blocking_write_and_flush(data[i:i + 4096])
    OutgoingBody.finish(body, None)


def duplex(request: IncomingRequest, response_out: ResponseOutparam) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", b"application/octet-stream")]))
    outgoing = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with outgoing.write() as sink:
        for chunk in chunks(request):
            sink.blocking_write_and_flush(chunk)
    OutgoingBody.finish(outgoing, None)


def stream(response_out: ResponseOutparam, lines: int, pause_ms: int, trap: bool) -> None:
    response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as out:
        for i in range(lines):
            out.blocking_write_and_flush(f"line {i}\n".encode())
            time.sleep(pause_ms / 1000)
        if trap:
            raise RuntimeError("trapping mid-body as asked")
    OutgoingBody.finish(body, None)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        global CALLS
        CALLS += 1
        method = method_name(request.method())
        path = request.path_with_query() or "/"
        if path == "/duplex":
            return duplex(request, response_out)
        headers = {name: value.decode() for name, value in request.headers().entries()}
        body = read_body(request)
        print(f"hello-http-py: {method} {path}", file=sys.stderr)
        route, query = urlsplit(path).path, parse_qs(urlsplit(path).query)
        number = lambda name: int(query.get(name, ["0"])[0])
        if route == "/fail":
            return respond(response_out, 500, json.dumps({"error": "failing as asked"}))
        if route == "/trap":
            raise RuntimeError("trapping as asked")
        if route == "/stream":
            return stream(response_out, number("n"), number("ms"), number("trap") == 1)
        if route == "/sleep":
            time.sleep(number("s"))
        if route == "/grow":
            KEPT.append(bytearray(number("mb") << 20))
        respond(response_out, 200, json.dumps({
            "method": method, "path": path, "greeting": headers.get("x-greeting"),
            "body": body.decode(errors="replace"), "calls": CALLS, "kept_mb": sum(map(len, KEPT)) >> 20,
        }))
