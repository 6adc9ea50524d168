"""The editor's web app: a static page (``static/``) and a small JSON API, on Starlette.

    GET  /                          the page (``static/``: HTML, JS, CSS; no external assets)
    GET  /api/info                  models and their controls, AU names, emotion presets, samples
    GET  /api/health                {"ok", "ready", "queued", "calls", "kept": {"bytes",
                                    "budget", "items"}}
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

Every error is ``{"error": one line}`` with its HTTP status (400 bad request, 403 another site's
page, 404 gone, 413 too large, 415 not an image or not JSON, 421 another host name, 422 no face,
503 busy, 504 timed out, 500 a bug: logged, its details never sent); the server keeps serving.
Request bodies are checked field by field (``payload``), requests from other sites' pages
refused (``guard``), and everything kept between requests counted in one memory budget
(``store``); every limit is in ``limits.Limits``. Model work runs on each model's
:class:`~.runner.ModelRunner` thread, photo work (decode, dlib, paste-back, encoding) on a small
thread pool; a request waits for both at most ``timeout`` seconds in all, then gets a 504 and its
queued work is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import time
import urllib.parse
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
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
from fxs_jax.serve import guard
from fxs_jax.serve import limits as limits_lib
from fxs_jax.serve import media
from fxs_jax.serve import ops
from fxs_jax.serve import payload
from fxs_jax.serve import replies
from fxs_jax.serve import runner as runner_lib
from fxs_jax.serve import sessions
from fxs_jax.serve import store as store_lib
from fxs_jax.serve.sessions import ServeError
from fxs_jax.serve.sessions import short_json

STATIC = Path(__file__).resolve().parent / "static"
AGAIN = {"photo": "pick or upload the photo again.", "result": "edit or play it again.",
         "thumbnail": "reload the page."}
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


class Editor:
  """The served models (``{name: TrainedModel}``, the first one the page's default), their
  runners, what the editor keeps (``store``: photos, results, thumbnails in one memory budget),
  and the HTTP handlers. ``limits`` (or its fields as keywords) bound every request."""

  def __init__(self, models: dict, limits: limits_lib.Limits | None = None,
               max_queue: int = runner_lib.MAX_QUEUE, warm_up: bool = True, **overrides):
    if not models:
      raise UserError("The editor needs at least one model.")
    self.limits = dataclasses.replace(limits or limits_lib.Limits(), **overrides)
    self.models = dict(models)
    self.kinds = {name: ops.kind_of(model) for name, model in self.models.items()}
    self.timeout = self.limits.timeout
    self.runners = {name: runner_lib.ModelRunner(model, name, max_queue=max_queue)
                    for name, model in self.models.items()}
    self.store = store_lib.KeptStore(
        self.limits.memory_bytes, {"photo": self.limits.max_photos,
                                   "result": self.limits.max_results,
                                   "thumbnail": len(sessions.SAMPLE_IDENTITIES)}, AGAIN)
    self._uploads = asyncio.Semaphore(self.limits.uploads_at_once)
    self.pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="fxs-serve-work")
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
    if not isinstance(name, str) or name not in self.models:
      raise ServeError(400, f"No model {short_json(name)} here; this server has "
                       f"{', '.join(self.models)}.")
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

  async def _json(self, request: Request) -> dict:
    data = await replies.read_body(request, self.limits.max_json_bytes, "The request",
                                  "send only the fields of an edit")
    return payload.parse(data, request.headers.get("content-type"), self.limits)

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
        "limits": {**self.limits.describe(), "timeout_s": self.timeout}})

  async def health(self, request: Request):
    del request
    return JSONResponse({
        "ok": True, "ready": all(r.ready.is_set() for r in self.runners.values()),
        "queued": {n: r.queued for n, r in self.runners.items()},
        "calls": {n: r.calls for n, r in self.runners.items()},
        "kept": {"bytes": self.store.nbytes, "budget": self.store.budget,
                 "items": self.store.counts()}})

  async def sample(self, request: Request):
    key = f"sample-{request.path_params['index']}"

    def thumbnail():
      image = store_lib.get_photo(self.store, key).image
      return media.encode(photos.fit_within(image, 128))

    data = await self._work(lambda: self.store.get_or_make("thumbnail", key, thumbnail),
                            time.monotonic() + self.timeout)
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

  async def upload(self, request: Request):
    name = urllib.parse.unquote(request.headers.get("x-filename", "upload"))[-120:] or "upload"
    _, model, _, _ = self._model(request.query_params.get("model"))
    size = model.config.model.image_size
    thorough = sessions.query_flag(request.query_params, "thorough")
    deadline = time.monotonic() + self.timeout
    try:  # at most uploads_at_once uploads in memory at a time
      await asyncio.wait_for(self._uploads.acquire(), max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError as e:
      raise ServeError(503, f"The server is busy with {self.limits.uploads_at_once} other "
                       "uploads; try again in a moment.") from e
    try:
      try:  # within the deadline too: a slow sender must not hold an upload's place
        data = await asyncio.wait_for(
            replies.read_body(request, self.limits.max_upload_bytes, name,
                              "send a smaller file (downscale the photo)"),
            max(0.0, deadline - time.monotonic()))
      except asyncio.TimeoutError as e:
        raise ServeError(408, f"{name} took longer than {self.timeout:g} s to arrive; upload "
                         "it again (or a smaller copy).") from e

      def read_and_detect():
        image = sessions.decode_upload(data, name, self.limits.max_megapixels)
        return sessions.detect(image, name, size, thorough)

      photo = await self._work(read_and_detect, deadline)
    finally:
      self._uploads.release()
    photo_id = self.store.add("photo", photo)
    return JSONResponse(await self._work(lambda: photo.as_json(photo_id, size),
                                         deadline))

  async def photo(self, request: Request):
    _, model, _, _ = self._model(request.query_params.get("model"))
    photo_id = request.path_params["photo_id"]
    photo = store_lib.get_photo(self.store, photo_id)
    deadline = time.monotonic() + self.timeout
    size = model.config.model.image_size
    return JSONResponse(await self._work(lambda: photo.as_json(photo_id, size),
                                         deadline))

  async def _faces(self, photo_id: str | None, size: int, deadline: float, missing: str):
    if not photo_id:
      raise ServeError(400, missing)
    photo = store_lib.get_photo(self.store, photo_id)
    return photo, await self._work(lambda: photo.faces(size), deadline)

  async def _begin(self, request: Request, video: bool) -> _Started:
    """The request's model, fields and faces (``video``: a play request, else an edit)."""
    start = time.monotonic()
    raw = await self._json(request)
    name, model, kind, run = self._model(raw.get("model"))
    if kind == "motion" and not video:
      raise ServeError(400, "This model makes videos: press Play.")
    if kind == "transfer" and video:
      raise ServeError(400, "This model makes stills: press a face to copy its expression.")
    body = payload.fields(raw, kind, f"{name}, {ops.title(model, kind)}", self.limits)
    deadline = start + self.timeout
    size = model.config.model.image_size
    photo, faces = await self._faces(body["photo"], size, deadline, "Pick or upload a photo.")
    picked = sessions.pick_faces(body["faces"], len(faces))
    return _Started(start, body, model, kind, run, deadline, size, photo,
                    [faces[i] for i in picked], picked)

  async def edit(self, request: Request):
    req = await self._begin(request, video=False)
    if req.kind == "transfer":
      _, sources = await self._faces(req.body["source"], req.size, req.deadline,
                                     "Pick the face whose expression to copy.")
      batch, label = ops.transfer_batch(req.model, sources[0], req.faces), "transfer"
      start = ops.self_transfer_batch(req.model, req.faces)
    else:
      batch = ops.edit_batch(req.model, req.kind, req.faces, req.body)
      start = ops.start_batch(req.model, req.kind, req.faces, req.body)
      label = req.body["emotion"] if req.kind == "emotion" else "edit"
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
      answer = {"image": media.data_url(shown, "jpg"), "faces": req.picked,
                "crops": list(map(media.data_url, crops))}
      if req.body["mask"] and "attention" in outputs:  # A = 1 keeps the input: show 1 - A
        answer["masks"] = [media.data_url(media.grey(1.0 - a)) for a in outputs["attention"]]
      return result, answer

    result, answer = await self._work(finish, req.deadline)
    result_id = self.store.add("result", result)
    now = time.monotonic()
    timing.update(paste_ms=1e3 * (now - pasted_at), total_ms=1e3 * (now - req.start))
    return JSONResponse({**answer, "result": result_id, "timing": timing,
                         "downloads": {f: f"/api/results/{result_id}.{f}" for f in result.formats}})

  async def play(self, request: Request):
    req = await self._begin(request, video=True)
    if req.kind in ("aus", "emotion"):
      batch = ops.play_batch(req.model, req.kind, req.faces, req.body)
      outputs, _ = await self._wait(req.run.predict("edit", batch), req.deadline)
      crops = ops.to_uint8(outputs["image"]).reshape(len(req.faces), ops.EDITOR_FRAMES,
                                                     req.size, req.size, 3)
      fps = animation.INTERPOLATION_FPS
      label = req.body["emotion"] if req.kind == "emotion" else "edit"
    else:  # motion
      crops, fps = await self._wait(
          req.run.submit(lambda: ops.videos(req.model, req.faces, req.body)), req.deadline)
      label = req.body["emotion"]

    def finish():  # pasted at the video's size, like photos.animate_photo
      canvas = photos.fit_within(req.photo.image, photos.ANIMATION_MAX_SIDE)
      faces = [alignment.rescaled(face, canvas.shape[:2]) for face in req.faces]
      frames = np.stack([photos.paste_faces(canvas, faces, crops[:, t], references=crops[:, 0])
                         for t in range(crops.shape[1])])
      result = media.Result(f"{media.safe_stem(req.photo.name)}_{label}", frames=frames, fps=fps)
      result.encoded("gif")  # shown at once
      return result

    result = await self._work(finish, req.deadline)
    result_id = self.store.add("result", result)
    return JSONResponse({"result": result_id, "video": f"/api/results/{result_id}.gif",
                         "frames": int(len(result.frames)), "fps": fps,
                         "timing": {"total_ms": 1e3 * (time.monotonic() - req.start)},
                         "downloads": {f: f"/api/results/{result_id}.{f}" for f in result.formats}})

  async def download(self, request: Request):
    result = self.store.get("result", request.path_params["result_id"])
    fmt = request.path_params["fmt"]
    if fmt not in result.formats:
      raise ServeError(404, f"This result has no {short_json('.' + fmt)}; it has "
                       f"{', '.join('.' + f for f in result.formats)}.")
    data = await self._work(lambda: result.encoded(fmt), time.monotonic() + self.timeout)
    headers = {"Cache-Control": "no-store"}
    if request.query_params.get("download"):
      headers["Content-Disposition"] = f'attachment; filename="{result.stem}.{fmt}"'
    return Response(data, media_type=media.MEDIA_TYPES[fmt], headers=headers)

  def routes(self) -> list:
    api = lambda path, handler, method="GET": Route(path, replies.api(handler, self.store.settle),
                                                    methods=[method])
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


def create_app(models: dict, hosts=(), **options) -> Starlette:
  """The editor's Starlette app on ``models`` (``{name: TrainedModel}``); ``hosts``: host names
  it answers to besides this machine's loopback names and the address a connection came to
  (``python -m fxs_jax.serve`` passes its ``--host``); ``options`` are :class:`Editor`'s
  (``limits``, ``max_queue``, ``warm_up``, or any field of :class:`limits.Limits`).
  ``app.state.editor`` is the :class:`Editor`."""
  editor = Editor(models, **options)

  @contextlib.asynccontextmanager
  async def lifespan(_):
    yield
    editor.close()

  app = Starlette(routes=editor.routes(), lifespan=lifespan,
                  exception_handlers={HTTPException: replies.http_error})
  app.add_middleware(guard.HostGuard, hosts=hosts)
  app.state.editor = editor
  return app
