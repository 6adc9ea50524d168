"""The editor's HTTP API (``fxs_jax.serve.app``) served by uvicorn on 127.0.0.1 in the worker and
reached over HTTP as a browser on this machine would (Starlette's TestClient needs httpx, which
the project does not install): malformed and hostile JSON bodies, uploads,
paths, and requests another site's page could make (a foreign Host or Origin).

One app serves every case (the bundled GANimation, whose edits take AUs, and LGP-GAN, whose edits
take an emotion; compiled on first use). A 4xx with a one-line
``{"error"}`` is the clean refusal; a 5xx is bad whatever the input."""

from __future__ import annotations

import atexit
import functools
import http.client
import json

from experiments.bad_inputs import fixtures
from experiments.bad_inputs import harness
from experiments.bad_inputs.harness import Case
from experiments.bad_inputs.harness import Reply

MODEL, LGPGAN = "synthfaces/ganimation", "synthfaces/lgpgan"
JSON = {"content-type": "application/json"}
WARM_UP_TIMEOUT_S = 600
AUS = [0.0] * 11 + [3.0] + [0.0] * 5
EDIT = {"model": MODEL, "photo": "sample-0", "aus": AUS, "intensity": 1.0}
EMOTION = {"model": LGPGAN, "photo": "sample-0", "emotion": "happy", "intensity": 1.0}


@functools.cache
def server() -> tuple[str, int]:
  """``(host, port)`` of the editor, served by uvicorn in this process until it exits."""
  import fxs_jax  # pylint: disable=import-outside-toplevel
  from fxs_jax.serve import app  # pylint: disable=import-outside-toplevel
  from fxs_jax.serve import browser  # pylint: disable=import-outside-toplevel
  # Compiled before serving, as ``python -m fxs_jax.serve`` does (a first edit that compiles
  # would take longer than the server's time-out on a slow machine).
  web_app = app.create_app({name: fxs_jax.load(name) for name in (MODEL, LGPGAN)})
  for run in web_app.state.editor.runners.values():
    if not run.ready.wait(WARM_UP_TIMEOUT_S):
      raise harness.HarnessError(f"the editor's models did not compile in {WARM_UP_TIMEOUT_S} s")
  serving = browser.serving(web_app)
  url = serving.__enter__()  # pylint: disable=unnecessary-dunder-call
  atexit.register(web_app.state.editor.close)
  atexit.register(serving.__exit__, None, None, None)
  host, port = url.removeprefix("http://").split(":")
  return host, int(port)


def send(method: str, path: str, body=None, headers=None) -> Reply:
  """One request over a fresh connection; ``body``: bytes (sent with its Content-Length) or an
  iterable of chunks (chunked transfer encoding); ``headers`` may replace the Host."""
  host, port = server()
  headers = dict(headers or {})
  connection = http.client.HTTPConnection(host, port, timeout=120)
  try:
    try:
      connection.putrequest(method, path, skip_host="host" in headers, skip_accept_encoding=True)
    except UnicodeError as e:
      raise harness.HarnessError(f"{path!r} cannot be sent: {e}") from e
    chunked = body is not None and not isinstance(body, bytes)
    if chunked:
      headers["transfer-encoding"] = "chunked"
    else:
      headers["content-length"] = str(len(body or b""))
    for key, value in headers.items():
      connection.putheader(key, value)
    try:
      connection.endheaders()
      if chunked:
        for chunk in body:
          connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
      elif body:
        connection.send(body)
    except (BrokenPipeError, ConnectionResetError):
      pass  # the server answered (413) and closed before reading the whole body
    response = connection.getresponse()
    data, kind = response.read(), response.getheader("content-type", "")
    text = data.decode("utf-8", "replace") if kind.startswith(("application/json", "text/")) \
        else ""
    return Reply(response.status, text, kind, len(data))
  finally:
    connection.close()


def _request(method, path, body=None, headers=None):
  """A call sending ``body`` (bytes, or a callable of the fixtures folder giving them)."""
  def call(sb, fx):
    del sb
    return send(method, path, body(fx) if callable(body) else body, headers)
  return call


def _case(name, expect, method, path, body=None, headers=None, what="", **kw) -> Case:
  if not what:
    shown = body if isinstance(body, (bytes, type(None))) else b"<file>"
    shown = "" if shown is None else " " + shown[:80].decode("utf-8", "replace")
    extra = "".join(f" [{k}: {v}]" for k, v in (headers or {}).items() if k != "content-type")
    what = f"{method} {path}{extra}{shown}"
  return Case(id=f"serve.{name}", cls="serve", expect=expect, what=what,
              call=_request(method, path, body, headers), **kw)


def _edit(name, expect, changes=None, raw=None, path="/api/edit", headers=None, base=None,
          **kw) -> Case:
  body = raw if raw is not None else json.dumps({**(base or EDIT), **(changes or {})}).encode()
  return _case(name, expect, "POST", path, body, {**JSON, **(headers or {})}, **kw)


def _upload(name, expect, data, filename="photo.png", headers=None, **kw) -> Case:
  return _case(name, expect, "POST", f"/api/photos?model={MODEL}", data,
               {"x-filename": filename, **(headers or {})}, **kw)


def _json_has(*keys):
  def check(sb, fx, run):
    del sb, fx
    body = json.loads(run.result.text)
    missing = [k for k in keys if k not in body]
    return f"the reply lacks {', '.join(missing)}" if missing else ""
  return check


def _edit_then_download(sb, fx):
  del sb, fx
  edited = send("POST", "/api/edit", json.dumps(EDIT).encode(), JSON)
  if edited.status != 200:
    return edited
  return send("GET", json.loads(edited.text)["downloads"]["png"])


def _chunked(size):
  def body(fx):
    del fx
    def chunks():
      for _ in range(size // 65536):
        yield b" " * 65536
    return chunks()
  return body


def _serve_cli(name, *argv, setup=None) -> Case:
  """``python -m fxs_jax.serve`` itself: a bad flag or model must end it with one line before
  it serves (a server that starts runs until the time-out: bad)."""
  return Case(id=f"serve.cli_{name}", cls="serve", expect="error", module="fxs_jax.serve",
              argv=("--port=0",) + argv, setup=setup, isolate=True, timeout=90)


def _broken_export(change):
  def setup(sb, fx):
    change(fixtures.export_copy(sb, fx))
  return setup


def cases() -> list[Case]:
  nan_intensity = ('{"model": "%s", "photo": "sample-0", "aus": %s, "intensity": NaN}' % (
      MODEL, json.dumps(AUS))).encode()
  inf_intensity = nan_intensity.replace(b"NaN", b"Infinity")
  nan_aus = ('{"model": "%s", "photo": "sample-0", "aus": [%s], "intensity": 1}' % (
      MODEL, ", ".join(["NaN"] * 17))).encode()
  deep_list = b"[" * 30000 + b"]" * 30000
  deep_dict = b'{"a": ' * 10000 + b"1" + b"}" * 10000
  foreign = {"host": "evil.example"}
  return [
      # controls
      _case("info", "ok", "GET", "/api/info", check=_json_has("models", "aus"),
            timeout=WARM_UP_TIMEOUT_S + 60),  # the first case starts and warms up the server
      _case("health", "ok", "GET", "/api/health", check=_json_has("ok")),
      _case("sample_thumbnail", "ok", "GET", "/api/samples/0.png"),
      _edit("edit_aus", "ok", check=_json_has("image", "result")),
      _edit("edit_emotion", "ok", base=EMOTION, check=_json_has("image", "result")),
      Case(id="serve.edit_same_origin", cls="serve", expect="ok", check=_json_has("image"),
           what="POST /api/edit [origin: the editor's own http://127.0.0.1:PORT]",
           call=lambda sb, fx: send("POST", "/api/edit", json.dumps(EDIT).encode(), {
               **JSON, "origin": "http://%s:%d" % server()})),
      _edit("play", "ok", path="/api/play", check=_json_has("video")),
      _upload("upload_photo", "ok", lambda fx: (fx / "astro.png").read_bytes(),
              check=_json_has("faces")),
      Case(id="serve.edit_then_download", cls="serve", expect="ok",
           what="POST /api/edit, then GET its /api/results/<id>.png", call=_edit_then_download),
      # bodies
      _edit("body_nested_lists_30000_deep", "error", raw=deep_list),
      _edit("body_nested_objects_10000_deep", "error", raw=deep_dict),
      _edit("body_not_json", "error", raw=b"hello"),
      _edit("body_a_list", "error", raw=b"[1, 2]"),
      _edit("body_empty", "error", raw=b""),
      _edit("body_1_mb", "error", raw=b'{"pad": "' + b"x" * 2**20 + b'"}'),
      _case("body_1_mb_chunked", "error", "POST", "/api/edit", _chunked(2**20), JSON,
            what="POST /api/edit with a 1 MB body sent in chunks (no Content-Length)"),
      # fields of the wrong type or value
      _edit("model_a_list", "error", {"model": ["a"]}),
      _edit("model_a_number", "error", {"model": 3}),
      _edit("model_an_object", "error", {"model": {"x": 1}}),
      _edit("model_unknown", "error", {"model": "nope"}),
      _edit("photo_superscript_index", "error", {"photo": "sample-²"}),
      _edit("photo_sample_99", "error", {"photo": "sample-99"}),
      _edit("photo_a_number", "error", {"photo": 12}),
      _edit("photo_null", "error", {"photo": None}),
      _edit("photo_path_traversal", "error", {"photo": "../../etc/passwd"}),
      _edit("photo_unknown_id", "error", {"photo": "deadbeef"}),
      _edit("emotion_unknown", "error", {"emotion": "happyy"}, base=EMOTION),
      _edit("emotion_a_list", "error", {"emotion": ["happy"]}, base=EMOTION),
      _edit("emotion_intensity_nan_literal", "error", base=EMOTION,
            raw=json.dumps(EMOTION).replace("1.0", "NaN").encode()),
      _edit("intensity_nan_literal", "error", raw=nan_intensity),
      _edit("intensity_infinity_literal", "error", raw=inf_intensity),
      _edit("intensity_a_string", "error", {"intensity": "1"}),
      _edit("intensity_1e308", "error", {"intensity": 1e308}),
      _edit("intensity_negative", "error", {"intensity": -1}),
      _edit("aus_nan_literals", "error", raw=nan_aus),
      _edit("aus_with_an_emotion_field", "error", {"emotion": "happy"}),
      _edit("aus_two_numbers", "error", {"aus": [1, 2]}),
      _edit("aus_a_string", "error", {"aus": "abc"}),
      _edit("aus_nested_lists", "error", {"aus": [[1]] * 17}),
      _edit("aus_above_5", "error", {"aus": [9.0] * 17}),
      _edit("faces_index_99", "error", {"faces": [99]}),
      _edit("faces_negative", "error", {"faces": [-1]}),
      _edit("faces_booleans", "error", {"faces": [True]}),
      _edit("faces_an_object", "error", {"faces": {"a": 1}}),
      _edit("play_intensity_nan", "error", raw=nan_intensity, path="/api/play"),
      # uploads
      _upload("upload_empty", "error", b""),
      _upload("upload_text", "error", b"hello, not a photo"),
      _upload("upload_truncated_png", "error", lambda fx: (fx / "truncated.png").read_bytes()),
      _upload("upload_decompression_bomb", "error", lambda fx: (fx / "bomb.png").read_bytes()),
      _upload("upload_no_face", "error", lambda fx: (fx / "noface.png").read_bytes()),
      _upload("upload_over_the_size_limit", "error", lambda fx: b"\x89PNG" + bytes(40 * 2**20)),
      # paths
      _case("photo_path_superscript", "error", "GET", f"/api/photos/sample-%C2%B2?model={MODEL}"),
      _case("photo_path_unknown", "error", "GET", f"/api/photos/nope?model={MODEL}"),
      _case("sample_99", "error", "GET", "/api/samples/99.png"),
      _case("result_unknown", "error", "GET", "/api/results/nope.png"),
      _case("edit_with_get", "error", "GET", "/api/edit"),
      # other sites
      _case("host_foreign", "error", "GET", "/api/info", headers=foreign),
      _case("host_foreign_with_port", "error", "GET", "/api/info",
            headers={"host": "evil.example:8765"}),
      _case("host_loopback_prefix", "error", "GET", "/api/info",
            headers={"host": "127.0.0.1.evil.example:8765"}),
      _case("host_other_port", "error", "GET", "/api/info", headers={"host": "127.0.0.1:9999"}),
      _edit("host_foreign_edit", "error", headers=foreign),
      _edit("origin_foreign_edit", "error", headers={"origin": "http://evil.example"}),
      _edit("origin_null_edit", "error", headers={"origin": "null"}),
      _upload("origin_foreign_upload", "error", lambda fx: (fx / "astro.png").read_bytes(),
              headers={"origin": "http://evil.example"}),
      # the server's command line
      _serve_cli("model_params_truncated", "--model={sb}/export",
                 setup=_broken_export(lambda e: fixtures.truncate(e / "params.npz"))),
      _serve_cli("model_params_flipped_byte", "--model={sb}/export",
                 setup=_broken_export(lambda e: fixtures.flip_entry_byte(e / "params.npz"))),
      _serve_cli("model_config_wrong_shape", "--model={sb}/export",
                 setup=_broken_export(lambda e: (e / "config.json").write_text("[1, 2]"))),
      _serve_cli("model_missing", "--model={sb}/nope"),
      _serve_cli("port_negative", "--model=synthfaces/ganimation", "--port=-1"),
      _serve_cli("port_70000", "--model=synthfaces/ganimation", "--port=70000"),
      _serve_cli("timeout_nan", "--model=synthfaces/ganimation", "--timeout=nan"),
      _serve_cli("timeout_negative", "--model=synthfaces/ganimation", "--timeout=-5"),
      _serve_cli("max_upload_mb_negative", "--model=synthfaces/ganimation",
                 "--max_upload_mb=-1"),
      _serve_cli("max_megapixels_nan", "--model=synthfaces/ganimation", "--max_megapixels=nan"),
  ]

