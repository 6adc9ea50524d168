"""The editor's HTTP API against careless and hostile clients: every bad body, field, query or
header is a 4xx with one line (a bug a 500 without its internals), what the server keeps stays
within one memory budget (counted here independently, by walking the kept objects), and only
this machine's own page may use it (Host and Origin checks). The server keeps serving."""

import dataclasses
import http.client
import io
import json
import logging
import re

import numpy as np
import pytest
from PIL import Image

from tests.test_serve import GANIMATION
from tests.test_serve import INTERNALS
from tests.test_serve import _require

AUS_ZERO = [0.0] * 17
MEMORY_MB, MAX_MEGAPIXELS = 3.0, 0.2  # small, so that a few uploads fill the budget


@pytest.fixture(scope="module")
def served():
  """The bundled GANimation behind the editor with a 3 MB budget, served on a free port:
  ``(host, port, Editor)``."""
  _require("starlette")
  _require("uvicorn")
  import fxs_jax
  from fxs_jax.serve import app
  from fxs_jax.serve import browser
  web_app = app.create_app({GANIMATION: fxs_jax.load(GANIMATION)}, timeout=120, warm_up=False,
                           memory_mb=MEMORY_MB, max_megapixels=MAX_MEGAPIXELS)
  with browser.serving(web_app) as url:
    host, port = url.removeprefix("http://").split(":")
    yield host, int(port), web_app.state.editor
  web_app.state.editor.close()


def _send(served, method, path, body=None, headers=None):
  """``(status, JSON answer)``; ``body``: bytes as they are, anything else as JSON; ``headers``
  replace the defaults (Content-Type: application/json for a body)."""
  host, port, _ = served
  if body is not None and not isinstance(body, bytes):
    body = json.dumps(body).encode()
  if headers is None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
  connection = http.client.HTTPConnection(host, port, timeout=120)
  try:
    connection.putrequest(method, path, skip_host="Host" in headers,
                          skip_accept_encoding=True)
    for key, value in {**headers, "Content-Length": str(len(body or b""))}.items():
      connection.putheader(key, value)
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    kind = response.getheader("Content-Type", "")
    return response.status, json.loads(data) if kind.startswith("application/json") else data
  finally:
    connection.close()


def _one_line(answer) -> str:
  message = answer["error"]
  assert "\n" not in message and not INTERNALS.search(message), message
  return message


def _keeps_serving(served):
  status, answer = _send(served, "POST", "/api/edit", {"photo": "sample-0", "aus": AUS_ZERO})
  assert status == 200 and answer["image"].startswith("data:image/jpeg"), answer
  assert _send(served, "GET", "/api/health")[1]["ok"]


# ---- request bodies ---------------------------------------------------------------------------
EDIT = {"photo": "sample-0", "aus": AUS_ZERO}
BAD_BODIES = [
    # (body: bytes as sent, or a dict merged into EDIT), status, words of the message
    (b"[" * 60_000, 400, "nests 60000 levels deep"),  # RecursionError before
    (b'{"a":' * 9_000 + b"1" + b"}" * 9_000, 400, "nests 9000 levels deep"),
    (b"[" * 70_000, 413, "over the 64 kB limit"),
    (json.dumps({**EDIT, "note": "x" * 70_000}).encode(), 413, "over the 64 kB limit"),
    ({"model": ["a"]}, 400, 'No model ["a"] here; this server has synthfaces/ganimation'),
    ({"model": 7}, 400, "No model 7 here"),
    ({"photo": "sample-²"}, 404, 'No sample face "²": the samples are sample-0 to sample-7'),
    ({"photo": "sample-٣"}, 404, "No sample face"),  # isdecimal, and int() reads it as 3
    ({"photo": "sample-99"}, 404, "No sample face 99"),
    ({"photo": 3}, 400, "photo must be text, got 3"),
    ({"photo": None}, 400, "Pick or upload a photo"),
    ({"photo": "x" * 5_000}, 400, "photo is 5000 characters long"),
    ({"photo": "no-such-id"}, 404, "This photo is no longer on the server"),
    ({"intensity": "1.5"}, 400, 'intensity must be a number in [0, 2], got "1.5"'),
    ({"intensity": True}, 400, "intensity must be a number in [0, 2], got true"),
    ({"intensity": None}, 400, "intensity must be a number in [0, 2], got null"),
    ({"intensity": [1]}, 400, "intensity must be a number"),
    ({"intensity": 2.5}, 400, "intensity must be a number in [0, 2], got 2.5"),
    ({"intensity": -1e-3}, 400, "intensity must be a number in [0, 2]"),
    (b'{"photo": "sample-0", "intensity": NaN}', 400, "holds NaN"),
    (b'{"photo": "sample-0", "intensity": Infinity}', 400, "holds Infinity"),
    (b'{"photo": "sample-0", "intensity": -Infinity}', 400, "holds -Infinity"),
    (b'{"photo": "sample-0", "intensity": 1e400}', 400, "number 1e400, too large for a float"),
    (b'{"photo": "sample-0", "intensity": ' + b"9" * 40 + b"}", 400, "40-digit integer"),
    ({"aus": [0.0] * 16}, 400, "aus must be a list of 17 numbers in [0, 5]"),
    ({"aus": "0," * 16 + "0"}, 400, "aus must be a list of 17 numbers"),
    ({"aus": [0.0] * 8 + ["4"] + [0.0] * 8}, 400, 'aus: AU12 must be a number in [0, 5], got "4"'),
    ({"aus": [0.0] * 8 + [7] + [0.0] * 8}, 400, "aus: AU12 must be a number in [0, 5], got 7"),
    ({"aus": [-1.0] + [0.0] * 16}, 400, "aus: AU01 must be a number in [0, 5], got -1.0"),
    ({"aus": [None] * 17}, 400, "aus: AU01 must be a number in [0, 5], got null"),
    ({"faces": "0"}, 400, "faces must be a list of face indices"),
    ({"faces": [True]}, 400, "faces must be a list of face indices"),
    ({"faces": [1]}, 400, "faces has 1, but this photo has faces 0"),
    ({"mask": "yes"}, 400, 'mask must be true or false, got "yes"'),
    ({"colour": "red"}, 400, '"colour" is not a field of this request; the fields are model, '),
    ({"frames": 100_000}, 400, "frames: a video's frames is set by the editor"),
    ({"max_side": -5}, 400, "max_side: a video's size is set by the editor"),
    ({"fps": -1}, 400, "fps: a video's frames per second is set by the editor"),
    ({"emotion": "happy"}, 400, "emotion is not a control of this model (synthfaces/ganimation"),
    ({"seed": 1}, 400, "seed is not a control of this model"),
    (b'{"photo": "sample-0", "photo": "sample-1"}', 400, 'has "photo" twice'),
    (b"[]", 400, "must be a JSON object of fields, got []"),
    (b"null", 400, "must be a JSON object of fields, got null"),
    (b'"sample-0"', 400, 'must be a JSON object of fields, got "sample-0"'),
    (b"", 400, "not JSON (Expecting value"),
    (b"{photo: sample-0}", 400, "not JSON (Expecting property name"),
    (b'{"photo": "sample-\xff"}', 400, "not UTF-8 text (byte 0xff at position 18)"),
    (b"\xef\xbb\xbf{}", 400, "not JSON"),  # a byte-order mark
]


@pytest.mark.parametrize("body,status,words", BAD_BODIES,
                         ids=[f"{i}:{w[:30]}" for i, (_, _, w) in enumerate(BAD_BODIES)])
def test_a_bad_edit_body_is_a_4xx_with_one_line(served, body, status, words):
  body = body if isinstance(body, bytes) else {**EDIT, **body}
  got, answer = _send(served, "POST", "/api/edit", body)
  assert got == status and words in _one_line(answer), (got, answer)


def test_bad_play_bodies_content_types_queries_and_paths_are_4xx(served):
  cases = [
      ("POST", "/api/play", {**EDIT, "intensity": float("nan")}, None, 400, "holds NaN"),
      ("POST", "/api/play", {**EDIT, "frames": 100_000}, None, 400, "set by the editor"),
      ("POST", "/api/edit", EDIT, {"Content-Type": "text/plain"}, 415,
       'Content-Type is "text/plain"; send the JSON body with Content-Type: application/json'),
      ("POST", "/api/edit", EDIT, {}, 415, 'Content-Type is "missing"'),
      ("POST", "/api/edit", EDIT, {"Content-Type": "application/x-www-form-urlencoded"}, 415,
       "Content-Type"),
      ("POST", "/api/photos?model=%5B%22a%22%5D", b"x", {}, 400, "No model \"[\\\"a\\\"]\" here"),
      ("POST", "/api/photos?thorough=%C2%B2", b"x", {}, 400, "thorough must be 1 or 0"),
      ("GET", "/api/photos/sample-%C2%B2", None, None, 404, "No sample face"),
      ("GET", "/api/samples/99999999999999999999.png", None, None, 404, "No sample face"),
      ("GET", "/api/results/nothing.png", None, None, 404, "This result is no longer"),
      ("GET", "/api/nothing", None, None, 404, "Not Found."),
      ("GET", "/api/edit", None, None, 405, "Method Not Allowed."),
  ]
  for method, path, body, headers, status, words in cases:
    got, answer = _send(served, method, path, body, headers)
    assert got == status and words in _one_line(answer), (path, got, answer)
  _keeps_serving(served)


def test_a_stalled_upload_is_dropped_at_the_deadline_and_frees_its_place(served):
  host, port, editor = served
  editor.timeout = 0.5
  try:  # two senders that promise a body and never send it (the editor reads 2 at a time)
    stalled = [http.client.HTTPConnection(host, port, timeout=30) for _ in range(2)]
    for connection in stalled:
      connection.putrequest("POST", f"/api/photos?model={GANIMATION}")
      connection.putheader("X-Filename", "slow.jpg")
      connection.putheader("Content-Length", "100000")
      connection.endheaders()
    for connection in stalled:
      response = connection.getresponse()
      assert response.status == 408 and _one_line(json.loads(response.read())) == (
          "slow.jpg took longer than 0.5 s to arrive; upload it again (or a smaller copy).")
      connection.close()
  finally:
    editor.timeout = 120
  status, answer = _send(served, "POST", f"/api/photos?model={GANIMATION}", _jpeg(300, 0),
                         {"X-Filename": "next.jpg"})
  assert status == 200 and len(answer["faces"]) == 1, answer


def test_user_errors_reaching_a_route_are_400_and_bugs_500_without_internals(
    served, monkeypatch, caplog):
  from fxs_jax.errors import UserError
  from fxs_jax.serve import ops

  def refuse(*args, **kwargs):
    raise UserError("intensity=nan: the edit's intensity must be a finite number in [0, 2];\n"
                    "pass e.g. intensity=1.")

  monkeypatch.setattr(ops, "edit_batch", refuse)
  status, answer = _send(served, "POST", "/api/edit", EDIT)
  assert status == 400 and _one_line(answer) == (
      "intensity=nan: the edit's intensity must be a finite number in [0, 2]; pass e.g. "
      "intensity=1.")

  def crash(*args, **kwargs):
    return {}["a secret detail"]

  monkeypatch.setattr(ops, "edit_batch", crash)
  with caplog.at_level(logging.ERROR, logger="fxs_jax.serve.app"):
    status, answer = _send(served, "POST", "/api/edit", EDIT)
  message = _one_line(answer)
  assert status == 500 and message.startswith("Internal error [")
  assert "KeyError" not in message and "secret" not in message and "Traceback" not in message
  reference = re.match(r"Internal error \[(\w+)\]", message).group(1)
  [record] = [r for r in caplog.records if reference in r.getMessage()]
  assert record.exc_info[0] is KeyError  # the details are in the server's log
  monkeypatch.undo()
  _keeps_serving(served)


# ---- Host and Origin ----------------------------------------------------------------------------
def test_only_this_machines_own_page_may_use_the_editor(served):
  host, port, _ = served
  for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
    assert _send(served, "GET", "/api/health", headers={"Host": name})[0] == 200, name
  for name in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}",
               f"127.0.0.1.evil.example:{port}", f"localhost:{port}x", "[::1]"):
    status, answer = _send(served, "GET", "/api/info", headers={"Host": name})
    assert status == 421 and _one_line(answer).startswith(
        f"This editor answers requests for 127.0.0.1:{port} or localhost:{port} or "
        f"[::1]:{port}, not for {json.dumps(name)}"), (name, answer)
  own = {"Content-Type": "application/json", "Origin": f"http://{host}:{port}"}
  assert _send(served, "POST", "/api/edit", EDIT, own)[0] == 200  # the page itself
  assert _send(served, "POST", "/api/edit", EDIT)[0] == 200  # curl, scripts: no Origin
  for origin in ("http://evil.example", "null", f"https://{host}:{port}",
                 f"http://localhost:{port}"):
    for path in ("/api/edit", "/api/play", f"/api/photos?model={GANIMATION}"):
      status, answer = _send(served, "POST", path, EDIT, {**own, "Origin": origin})
      assert status == 403 and _one_line(answer).startswith(
          f"A page from {json.dumps(origin)} may not change this editor's photos"), answer
  _keeps_serving(served)


def test_the_host_check_admits_the_host_it_was_started_with():
  _require("starlette")
  from fxs_jax.serve import guard
  check = guard.HostGuard(None, hosts=("Editor.LAN", "0.0.0.0"))
  scope = {"type": "http", "method": "POST", "scheme": "http", "server": ("192.168.1.5", 8765)}
  assert check.refusal(scope, "editor.lan:8765", None) is None
  assert check.refusal(scope, "192.168.1.5:8765", None) is None  # the address it was reached at
  assert check.refusal(scope, "editor.lan:8765", b"http://editor.lan:8765") is None
  assert check.refusal(scope, "other.lan:8765", None)[0] == 421
  assert check.refusal(scope, "editor.lan:8765", b"http://other.lan:8765")[0] == 403
  assert check.refusal({**scope, "method": "GET"}, "editor.lan:8765", b"http://x.org") is None
  assert guard.split_host("[::1]:8765") == ("::1", 8765)
  assert guard.split_host("Example.com") == ("example.com", 80)
  assert guard.split_host("example.com:８０") == ("example.com", None)  # full-width digits


# ---- memory -------------------------------------------------------------------------------------
def _kept_by_walking(items) -> int:
  """Bytes of every array and bytes object reachable from ``items`` (through dataclass fields,
  cached properties, lists, tuples and dicts), overlapping memory counted once."""
  spans, seen, stack = [], set(), list(items)
  while stack:
    obj = stack.pop()
    if id(obj) in seen or obj is None or isinstance(obj, (str, int, float, bool)):
      continue
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
      start = obj.__array_interface__["data"][0]
      spans.append((start, start + obj.nbytes))
    elif isinstance(obj, (bytes, bytearray)):
      start = np.frombuffer(obj, np.uint8).__array_interface__["data"][0] if obj else 0
      spans.append((start, start + len(obj)))
    elif isinstance(obj, dict):
      stack += obj.values()
    elif isinstance(obj, (list, tuple)):
      stack += obj
    elif dataclasses.is_dataclass(obj):
      stack += vars(obj).values()
  total, end = 0, 0
  for start, stop in sorted(spans):
    total += max(0, stop - max(start, end))
    end = max(end, stop)
  return total


def _jpeg(side: int, seed: int) -> bytes:
  from tests import real_photos
  rng = np.random.default_rng(seed)
  photo = np.asarray(Image.fromarray(real_photos.astronaut()).resize((side, side)))
  photo = np.clip(photo + rng.normal(0, 8, photo.shape), 0, 255).astype(np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(photo).save(buffer, format="JPEG", quality=90)
  return buffer.getvalue()


def test_everything_kept_is_counted_in_one_budget(served):
  """10 uploads of 300-354 px photos, each edited and its edit downloaded, against a 3 MB
  budget: after every request the store's count equals the bytes of the arrays reachable from
  what it keeps, within the budget; the oldest photos go first, with a one-line 404."""
  _require("dlib")
  _, _, editor = served
  budget = MEMORY_MB * 2**20
  assert editor.store.budget == budget
  aus = list(AUS_ZERO)
  aus[8] = 4.0  # AU12, lip corner puller
  ids, downloads = [], []
  for k in range(10):
    status, photo = _send(served, "POST", f"/api/photos?model={GANIMATION}",
                          _jpeg(300 + 6 * k, k), {"X-Filename": f"p{k}.jpg"})
    assert status == 200 and len(photo["faces"]) == 1, photo
    ids.append(photo["id"])
    status, edit = _send(served, "POST", "/api/edit", {"photo": photo["id"], "aus": aus})
    assert status == 200, edit
    status, png = _send(served, "GET", edit["downloads"]["png"])
    assert status == 200 and png[:4] == b"\x89PNG"
    downloads.append(edit["downloads"]["png"])
    kept = [item for _, _, item in editor.store.items()]
    walked = _kept_by_walking(kept)
    assert editor.store.nbytes == walked <= budget, (k, editor.store.nbytes, walked)
    health = _send(served, "GET", "/api/health")[1]["kept"]
    assert health["bytes"] == editor.store.nbytes and health["budget"] == budget
  kinds = editor.store.counts()
  assert 2 <= kinds["photo"] < 10  # some were dropped to stay within the budget ...
  photo_bytes = 3 * (300 + 6 * 9) ** 2
  assert editor.store.nbytes > budget - 4 * photo_bytes  # ... but no more than needed
  status, answer = _send(served, "GET", f"/api/photos/{ids[0]}?model={GANIMATION}")
  assert status == 404 and _one_line(answer).startswith(
      "This photo is no longer on the server (it keeps the 32 most recent photos, within 3 MB "
      "in all); pick or upload the photo again.")
  assert _send(served, "GET", f"/api/photos/{ids[-1]}?model={GANIMATION}")[0] == 200
  assert _send(served, "GET", downloads[-1])[0] == 200


def test_limits_are_checked_in_one_line():
  _require("starlette")
  from fxs_jax.errors import UserError
  from fxs_jax.serve import __main__ as cli
  from fxs_jax.serve import limits
  cases = [({"memory_mb": float("nan")}, "--memory_mb=nan: the MB the editor may keep must be a "
            "finite number > 0; pass e.g. --memory_mb=1024."),
           ({"timeout": -1.0}, "--timeout=-1.0: the seconds a request may take must be"),
           ({"max_megapixels": float("inf")}, "--max_megapixels=inf"),
           ({"memory_mb": 100.0}, "--memory_mb=100: the editor must be able to keep four of the "
            "largest photos it accepts (--max_megapixels=16: 46 MB each decoded), so at least "
            "184 MB; raise --memory_mb or lower --max_megapixels.")]
  for fields, words in cases:
    with pytest.raises(UserError) as info:
      limits.Limits(**fields)
    assert str(info.value).startswith(words) and "\n" not in str(info.value)
  args = cli.parse_args(["--port=70000"])
  with pytest.raises(UserError, match=r"--port=70000: a port is a number in \[0, 65535\]"):
    cli.check_args(args)
