"""Only this machine's browser tabs of the editor may use it: a Host and Origin check (ASGI).

A web page the user visits elsewhere can make the browser send requests to the editor: by DNS
rebinding (its own name resolving to 127.0.0.1, so that the page reads the answers; the request's
Host is then the page's name) or by plain cross-site requests (a form posting to the editor: the
Origin is the other site). So:

* every request must name the address the editor serves on in its Host header (127.0.0.1,
  localhost, [::1], the ``--host`` it was started with or the address the connection came to, at
  the port it serves on), else 421;
* a request that can change something (POST, PUT, PATCH, DELETE) from a page must come from the
  editor's own page (``Origin`` the scheme and Host of the request), else 403.

Requests without an Origin (curl, scripts, the page's own GETs) pass the second check.
"""

from __future__ import annotations

import json

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("", "0.0.0.0", "::")  # bind to every address: no name of this machine
CHANGES = ("POST", "PUT", "PATCH", "DELETE")
DEFAULT_PORTS = {"http": 80, "https": 443}


def split_host(value: str, scheme: str = "http") -> tuple[str, int | None]:
  """``(host, port)`` of a Host header (``[::1]:8765``, ``localhost:80``, ``example.com``): the
  host lower case without brackets, the port the scheme's default when left out, None when it
  is not a port number."""
  value = value.strip().lower()
  if value.startswith("["):
    host, _, rest = value[1:].partition("]")
    port = rest[1:] if rest.startswith(":") else None if rest else ""
  else:
    host, _, port = value.partition(":")
  if port == "":
    return host, DEFAULT_PORTS.get(scheme)
  return host, int(port) if port and port.isascii() and port.isdigit() else None


def _bracketed(host: str) -> str:
  return f"[{host}]" if ":" in host else host


class HostGuard:
  """ASGI middleware around ``app``: admits requests whose Host names ``hosts`` (besides the
  loopback names and the connection's own address; not a wildcard such as 0.0.0.0) at the port
  served on, and refuses state-changing requests from other origins."""

  def __init__(self, app, hosts=()):
    self.app = app
    named = (h.strip("[]").lower() for h in hosts)
    self.hosts = tuple(dict.fromkeys([*LOOPBACK, *(h for h in named if h not in WILDCARDS)]))

  async def __call__(self, scope, receive, send):
    if scope["type"] not in ("http", "websocket"):
      return await self.app(scope, receive, send)
    headers = dict(scope["headers"])
    host_header = headers.get(b"host", b"").decode("latin-1")
    problem = self.refusal(scope, host_header, headers.get(b"origin"))
    if problem is None:
      return await self.app(scope, receive, send)
    status, message = problem
    if scope["type"] == "websocket":
      await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
      return
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

  def refusal(self, scope, host_header: str, origin: bytes | None):
    """``(status, one line)`` of why a request is refused, or None."""
    server = scope.get("server") or (None, None)
    scheme = scope.get("scheme", "http")
    port = server[1]
    reached = str(server[0] or "").lower()  # the address the connection came to
    admitted = self.hosts + ((reached,) if reached not in WILDCARDS else ())
    served = " or ".join(f"{_bracketed(h)}:{port}" if port else _bracketed(h)
                         for h in self.hosts)
    if host_header:  # (HTTP/1.0 may leave it out; a browser never does)
      host, given_port = split_host(host_header, scheme)
      if host not in admitted or (port is not None and given_port != port):
        return 421, (f"This editor answers requests for {served}, not for "
                     f"{json.dumps(host_header[:80])} (a page of another site cannot use it); "
                     f"open http://{_bracketed(self.hosts[0])}:{port}/ instead.")
    if origin is not None and scope.get("method") in CHANGES:
      expected = f"{scheme}://{host_header}".lower()
      given = origin.decode("latin-1").strip().lower()
      if given != expected:
        return 403, (f"A page from {json.dumps(given[:80])} may not change this editor's photos "
                     "(cross-site requests are refused); use the editor's own page at "
                     f"{scheme}://{host_header}/.")
    return None
