"""The editor's HTTP plumbing: every failure as ``{"error": one line}`` with its status (a bug's
details only in the server's log), and request bodies read within their limit."""

from __future__ import annotations

import functools
import logging
import secrets

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.requests import Request
from starlette.responses import JSONResponse

from fxs_jax.errors import UserError
from fxs_jax.serve import runner as runner_lib
from fxs_jax.serve.sessions import ServeError

MAX_MESSAGE = 600  # characters of an error message sent to the page
log = logging.getLogger("fxs_jax.serve.app")


def error(status: int, message: str) -> JSONResponse:
  message = " ".join(str(message).split())
  if len(message) > MAX_MESSAGE:
    message = message[:MAX_MESSAGE - 3] + "..."
  return JSONResponse({"error": message}, status_code=status)


def api(handler, settle):
  """Every failure as ``{"error": one line}`` with its status; the server keeps serving, and
  ``settle()`` runs after every request (the kept items may have grown)."""

  @functools.wraps(handler)
  async def wrapped(request: Request):
    try:
      return await handler(request)
    except ServeError as e:
      return error(e.status, str(e))
    except UserError as e:  # the API's and the recipes' argument checks
      return error(400, str(e))
    except runner_lib.QueueFull as e:
      return error(503, f"The server is busy: {e}")
    except ClientDisconnect:
      return error(400, "The request was cut off before its end; send it again.")
    except Exception:  # pylint: disable=broad-except
      reference = secrets.token_hex(4)
      log.exception("%s %s failed [%s]", request.method, request.url.path, reference)
      return error(500, f"Internal error [{reference}]: the editor failed on this request (its "
                   "log has the details); the server keeps running, so try again or report it.")
    finally:
      settle()
  return wrapped


async def http_error(request: Request, e: HTTPException) -> JSONResponse:
  """Starlette's own refusals (no such page, wrong method) as one line too."""
  del request
  return error(e.status_code, f"{e.detail}.")


async def read_body(request: Request, limit: int, what: str, fix: str) -> bytes:
  """The request's body; ServeError 413 (``what`` is over the limit; ``fix``) as soon as it
  declares or sends more than ``limit`` bytes."""
  declared = request.headers.get("content-length", "")
  size_text = f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit / 1024:g} kB"
  too_large = ServeError(413, f"{what} is over the {size_text} limit; {fix}.")
  if declared.isascii() and declared.isdigit() and int(declared) > limit:
    raise too_large
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > limit:
      raise too_large
    chunks.append(chunk)
  return b"".join(chunks)
