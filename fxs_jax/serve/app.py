"""The editor's web app: a static page (``static/``) and a small JSON API, on Starlette.

    GET  /                          the page (``static/``: HTML, JS, CSS; no external assets)
    GET  /api/info                  models and their controls, AU names, emotion presets, samples
    GET  /api/health                {"ok", "ready", "queued", "calls"}
    GET  /api/samples/{k}.png       a sample face's thumbnail
    POST /api/photos?model=NAME     upload (the raw file as the body, X-Filename: its name):
         [&thorough=1]              checked, decoded, faces found once (thorough: at twice the
                                    scale, ~4x the time) -> the photo's JSON
    GET  /api/photos/{id}?model=    a photo (or sample-<k>): its faces at the model's size
                                    ({"box", "crop", ...}, the largest first) and the faces
                                    skipped ({"box", "reason"})
    POST /api/edit                  {"model", "photo", aus + intensity | emotion + intensity |
                                    "source": photo id, "mask": bool, "faces": [indices]
                                    (default every face)} -> the edited photo; only the picked
                                    faces are edited and pasted
    POST /api/play                  the same target as a video (editors: start -> target;
                                    TextureGAN: {"emotion", "seed"})
    GET  /api/results/{id}.{png|gif|mp4}[?download=1]

Every error is ``{"error": one line}`` with its HTTP status (400 bad request, 404 gone, 413 too
large, 415 not an image, 422 no face, 503 queue full, 504 timed out, 500 a bug); the server
keeps serving. Model work runs on each model's :class:`~.runner.ModelRunner` thread, photo work
(decode, dlib, paste-back, encoding) on a small thread pool; a request waits for both at most
``timeout`` seconds in all, then gets a 504 and its queued work is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import logging
import time
import urllib.parse
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.responses import JSONResponse
from starlette.responses import Response
from starlette.routing import Mount
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from fxs_jax import animation
from fxs_jax import facs
from fxs_jax import photos
from fxs_jax.errors import UserError
from fxs_jax.faces import alignment
from fxs_jax.serve import media
from fxs_jax.serve import ops
from fxs_jax.serve import runner as runner_lib
from fxs_jax.serve import sessions
from fxs_jax.serve.sessions import ServeError

STATIC = Path(__file__).resolve().parent / "static"
TIMEOUT = 30.0  # seconds a request may take, queueing included
MAX_JSON_BYTES = 64 * 1024
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Started:
  """What an edit or a play request starts from: its body, model, deadline and picked faces
  (``faces``: the aligned faces at ``picked``, indices into the photo's faces)."""
  start: float
  body: dict
  model: object  # fxs_jax.TrainedModel
  kind: str  # "aus", "emotion", "transfer" or "motion"
  run: runner_lib.ModelRunner
  deadline: float
  size: int
  photo: sessions.Photo
  faces: list  # of fxs_jax.faces.alignment.AlignedFace
  picked: list  # of int


def _error(status: int, message: str) -> JSONResponse:
  return JSONResponse({"error": " ".join(message.split())}, status_code=status)


def _api(handler):
  """Every failure as ``{"error": one line}`` with its status; the server keeps serving."""

  @functools.wraps(handler)
  async def wrapped(request: Request):
    try:
      return await handler(request)
    except ServeError as e:
      return _error(e.status, str(e))
    except UserError as e:  # the recipes' argument checks
      return _error(400, str(e))
    except runner_lib.QueueFull as e:
      return _error(503, f"The server is busy: {e}")
    except Exception as e:  # pylint: disable=broad-except
      log.exception("%s %s failed", request.method, request.url.path)
      return _error(500, f"Internal error ({type(e).__name__}: {e}); the server keeps running.")
  return wrapped


class Editor:
  """The served models (``{name: TrainedModel}``, the first one the page's default), their
  runners, the photo and result stores, and the HTTP handlers."""

  def __init__(self, models: dict, timeout: float = TIMEOUT,
               max_upload_mb: float = sessions.MAX_UPLOAD_MB,
               max_megapixels: float = sessions.MAX_MEGAPIXELS,
               max_queue: int = runner_lib.MAX_QUEUE, warm_up: bool = True):
    if not models:
      raise UserError("The editor needs at least one model.")
    self.models = dict(models)
    self.kinds = {name: ops.kind_of(model) for name, model in self.models.items()}
    self.timeout, self.max_megapixels = float(timeout), float(max_megapixels)
    self.max_upload_bytes = int(max_upload_mb * 2**20)
    self.runners = {name: runner_lib.ModelRunner(model, name, max_queue=max_queue)
                    for name, model in self.models.items()}
    self.photos = sessions.PhotoStore()
    self.results = sessions.Store("result", max_items=24, max_bytes=1 << 29)
    self.pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="fxs-serve-work")
    self._thumbnails: dict[int, bytes] = {}
    if warm_up:
      self.warm_up()
    else:  # compiled on first use instead
      for run in self.runners.values():
        run.ready.set()

  def warm_up(self, names=None) -> None:
    """Compiles each model's (default every model's) prediction at every batch size, on the
    model's own thread, now; its runner is ``ready`` when done."""
    for name in names or self.runners:
      run, model, kind = self.runners[name], self.models[name], self.kinds[name]
      run.ready.clear()
      face = sessions.sample_face(sessions.SAMPLE_IDENTITIES[0], model.config.model.image_size)
      if kind == "motion":
        run.warm_up(then=functools.partial(ops.videos, model, [face], {"emotion": "happy"}))
      else:
        run.warm_up(ops.prediction_of(kind), ops.example_batch(model, kind, face))

  def close(self) -> None:
    for run in self.runners.values():
      run.close()
    self.pool.shutdown(wait=False, cancel_futures=True)

  # ---- helpers -------------------------------------------------------------------------------
  def _model(self, name):
    name = name or next(iter(self.models))
    if name not in self.models:
      raise ServeError(400, f"No model {name!r} here; this server has {', '.join(self.models)}.")
    return name, self.models[name], self.kinds[name], self.runners[name]

  async def _wait(self, future: concurrent.futures.Future, deadline: float):
    try:
      return await asyncio.wait_for(asyncio.wrap_future(future),
                                    max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError as e:
      future.cancel()  # dropped if it has not started
      raise ServeError(504, f"The request took longer than {self.timeout:g} s and was dropped "
                       "(the server is busy, or the photo is very large); try again.") from e

  async def _work(self, fn, deadline: float):
    """``fn()`` on the photo-work pool, within the request's deadline."""
    return await self._wait(self.pool.submit(fn), deadline)

  @staticmethod
  async def _body(request: Request, limit: int, what: str) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = ServeError(413, f"{what} is over the {limit / 2**20:g} MB upload limit; send a "
                           "smaller file.")
    if declared.isdigit() and int(declared) > limit:
      raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
      size += len(chunk)
      if size > limit:
        raise too_large
      chunks.append(chunk)
    return b"".join(chunks)

  async def _json(self, request: Request) -> dict:
    try:
      body = json.loads(await self._body(request, MAX_JSON_BYTES, "The request"))
    except ValueError as e:
      raise ServeError(400, f"The request is not JSON ({e}).") from e
    if not isinstance(body, dict):
      raise ServeError(400, "The request must be a JSON object.")
    return body

  # ---- handlers ------------------------------------------------------------------------------
  async def index(self, request: Request):
    del request
    return FileResponse(STATIC / "index.html")

  async def info(self, request: Request):
    del request
    return JSONResponse({
        "models": [{**ops.describe(name, model, self.kinds[name]),
                    "ready": self.runners[name].ready.is_set()}
                   for name, model in self.models.items()],
        "aus": [{"name": n, "description": facs.AU_DESCRIPTIONS[n]} for n in facs.AU_NAMES],
        "presets": {e: facs.emotion_aus(e).round(2).tolist() for e in facs.EMOTIONS},
        "samples": [{"id": f"sample-{k}", "thumbnail": f"/api/samples/{k}.png",
                     "identity": identity}
                    for k, identity in enumerate(sessions.SAMPLE_IDENTITIES)],
        "limits": {"max_upload_mb": self.max_upload_bytes / 2**20,
                   "max_megapixels": self.max_megapixels, "timeout_s": self.timeout}})

  async def health(self, request: Request):
    del request
    return JSONResponse({
        "ok": True, "ready": all(r.ready.is_set() for r in self.runners.values()),
        "queued": {n: r.queued for n, r in self.runners.items()},
        "calls": {n: r.calls for n, r in self.runners.items()}})

  async def sample(self, request: Request):
    index = int(request.path_params["index"])
    if index not in self._thumbnails:
      image = (await self._work(lambda: self.photos.get(f"sample-{index}"),
                                time.monotonic() + self.timeout)).image
      self._thumbnails[index] = media.encode(photos.fit_within(image, 128))
    return Response(self._thumbnails[index], media_type="image/png",
                    headers={"Cache-Control": "max-age=3600"})

  async def upload(self, request: Request):
    name = urllib.parse.unquote(request.headers.get("x-filename", "upload"))[-120:] or "upload"
    _, model, _, _ = self._model(request.query_params.get("model"))
    size = model.config.model.image_size
    thorough = sessions.query_flag(request.query_params, "thorough")
    deadline = time.monotonic() + self.timeout
    data = await self._body(request, self.max_upload_bytes, name)

    def read_and_detect():
      image = sessions.decode_upload(data, name, self.max_megapixels)
      return sessions.detect(image, name, size, thorough)

    photo = await self._work(read_and_detect, deadline)
    photo_id = self.photos.add(photo)
    return JSONResponse(await self._work(lambda: photo.as_json(photo_id, size),
                                         deadline))

  async def photo(self, request: Request):
    _, model, _, _ = self._model(request.query_params.get("model"))
    photo_id = request.path_params["photo_id"]
    photo = self.photos.get(photo_id)
    deadline = time.monotonic() + self.timeout
    size = model.config.model.image_size
    return JSONResponse(await self._work(lambda: photo.as_json(photo_id, size),
                                         deadline))

  async def _faces(self, body: dict, key: str, size: int, deadline: float, missing: str):
    photo_id = body.get(key)
    if not isinstance(photo_id, str) or not photo_id:
      raise ServeError(400, missing)
    photo = self.photos.get(photo_id)
    return photo, await self._work(lambda: photo.faces(size), deadline)

  async def _begin(self, request: Request) -> _Started:
    start = time.monotonic()
    body = await self._json(request)
    _, model, kind, run = self._model(body.get("model"))
    deadline = start + self.timeout
    size = model.config.model.image_size
    photo, faces = await self._faces(body, "photo", size, deadline, "Pick or upload a photo.")
    picked = sessions.pick_faces(body.get("faces"), len(faces))
    return _Started(start, body, model, kind, run, deadline, size, photo,
                    [faces[i] for i in picked], picked)

  async def edit(self, request: Request):
    req = await self._begin(request)
    if req.kind == "transfer":
      _, sources = await self._faces(req.body, "source", req.size, req.deadline,
                                     "Pick the face whose expression to copy.")
      batch, label = ops.transfer_batch(req.model, sources[0], req.faces), "transfer"
      start = ops.self_transfer_batch(req.model, req.faces)
    elif req.kind == "motion":
      raise ServeError(400, "This model makes videos: press Play.")
    else:
      batch = ops.edit_batch(req.model, req.kind, req.faces, req.body)
      start = ops.start_batch(req.model, req.kind, req.faces, req.body)
      label = req.body.get("emotion", "edit") if req.kind == "emotion" else "edit"
    prediction = ops.prediction_of(req.kind)
    outputs, timing = await self._wait(req.run.predict(prediction, batch), req.deadline)
    # Only the model's change from the face's start is pasted: at the start, the photo itself.
    started, _ = await self._wait(req.run.predict(prediction, start), req.deadline)
    pasted_at = time.monotonic()

    def finish():  # pasted into the page's preview; a download pastes into the photo itself
      crops, references = ops.to_uint8(outputs["image"]), ops.to_uint8(started["image"])
      result = media.Result(f"{media.safe_stem(req.photo.name)}_{label}", photo=req.photo.image,
                            faces=req.faces, crops=crops, references=references)
      shown_faces = req.photo.preview_faces(req.size)
      shown = photos.paste_faces(req.photo.preview, [shown_faces[i] for i in req.picked], crops,
                                 references=references)
      payload = {"image": media.data_url(shown, "jpg"), "faces": req.picked,
                 "crops": list(map(media.data_url, crops))}
      if req.body.get("mask") and "attention" in outputs:  # A = 1 keeps the input: show 1 - A
        payload["masks"] = [media.data_url(media.grey(1.0 - a)) for a in outputs["attention"]]
      return result, payload

    result, payload = await self._work(finish, req.deadline)
    result_id = self.results.add(result)
    now = time.monotonic()
    timing.update(paste_ms=1e3 * (now - pasted_at), total_ms=1e3 * (now - req.start))
    return JSONResponse({**payload, "result": result_id, "timing": timing,
                         "downloads": {f: f"/api/results/{result_id}.{f}" for f in result.formats}})

  async def play(self, request: Request):
    req = await self._begin(request)
    if req.kind in ("aus", "emotion"):
      batch = ops.play_batch(req.model, req.kind, req.faces, req.body)
      outputs, _ = await self._wait(req.run.predict("edit", batch), req.deadline)
      crops = ops.to_uint8(outputs["image"]).reshape(len(req.faces), ops.EDITOR_FRAMES,
                                                     req.size, req.size, 3)
      fps = animation.INTERPOLATION_FPS
      label = req.body.get("emotion", "edit") if req.kind == "emotion" else "edit"
    elif req.kind == "motion":
      crops, fps = await self._wait(
          req.run.submit(lambda: ops.videos(req.model, req.faces, req.body)), req.deadline)
      label = req.body["emotion"]
    else:
      raise ServeError(400, "The cGAN transfer makes stills: press a face to copy its expression.")

    def finish():  # pasted at the video's size, like photos.animate_photo
      canvas = photos.fit_within(req.photo.image, photos.ANIMATION_MAX_SIDE)
      faces = [alignment.rescaled(face, canvas.shape[:2]) for face in req.faces]
      frames = np.stack([photos.paste_faces(canvas, faces, crops[:, t], references=crops[:, 0])
                         for t in range(crops.shape[1])])
      result = media.Result(f"{media.safe_stem(req.photo.name)}_{label}", frames=frames, fps=fps)
      result.encoded("gif")  # shown at once
      return result

    result = await self._work(finish, req.deadline)
    result_id = self.results.add(result)
    return JSONResponse({"result": result_id, "video": f"/api/results/{result_id}.gif",
                         "frames": int(len(result.frames)), "fps": fps,
                         "timing": {"total_ms": 1e3 * (time.monotonic() - req.start)},
                         "downloads": {f: f"/api/results/{result_id}.{f}" for f in result.formats}})

  async def download(self, request: Request):
    result = self.results.get(request.path_params["result_id"])
    fmt = request.path_params["fmt"]
    if fmt not in result.formats:
      raise ServeError(404, f"This result has no .{fmt}; it has "
                       f"{', '.join('.' + f for f in result.formats)}.")
    data = await self._work(lambda: result.encoded(fmt), time.monotonic() + self.timeout)
    headers = {"Cache-Control": "no-store"}
    if request.query_params.get("download"):
      headers["Content-Disposition"] = f'attachment; filename="{result.stem}.{fmt}"'
    return Response(data, media_type=media.MEDIA_TYPES[fmt], headers=headers)

  def routes(self) -> list:
    api = lambda path, handler, method="GET": Route(path, _api(handler), methods=[method])
    return [
        Route("/", self.index),
        api("/api/info", self.info),
        api("/api/health", self.health),
        api("/api/samples/{index:int}.png", self.sample),
        api("/api/photos", self.upload, "POST"),
        api("/api/photos/{photo_id}", self.photo),
        api("/api/edit", self.edit, "POST"),
        api("/api/play", self.play, "POST"),
        api("/api/results/{result_id}.{fmt}", self.download),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(models: dict, **options) -> Starlette:
  """The editor's Starlette app on ``models`` (``{name: TrainedModel}``); ``options`` are
  :class:`Editor`'s (``timeout``, ``max_upload_mb``, ``max_megapixels``, ``max_queue``,
  ``warm_up``). ``app.state.editor`` is the :class:`Editor`."""
  editor = Editor(models, **options)

  @contextlib.asynccontextmanager
  async def lifespan(_):
    yield
    editor.close()

  app = Starlette(routes=editor.routes(), lifespan=lifespan)
  app.state.editor = editor
  return app
