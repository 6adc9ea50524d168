// The editor's page: picks a face (faces.js), draws the model's controls, sends edits (the newest
// control values only: while one edit runs, later moves collapse into one next request) with the
// faces picked.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  info: null, model: null, photo: null, source: null, file: null,
  selected: new Set(), selectedOf: null, dash: "",
  aus: [], intensity: 1, emotion: "happy", mask: false, seed: 0, preset: null,
  pending: false, editing: false, resultSrc: null,
};

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error("The editor's server does not answer (is it still running?).");
  }
  let body;
  try {
    body = await response.json();
  } catch (e) {
    body = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const postJSON = (path, body) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
});

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

function setStatus(text, busy = false) {
  $("status").textContent = text;
  $("status").classList.toggle("busy", busy);
}

function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

// ---- results --------------------------------------------------------------------------------
function setDownloads(downloads) {
  for (const fmt of ["png", "gif", "mp4"]) {
    const link = $(`download-${fmt}`);
    const href = downloads && downloads[fmt];
    link.classList.toggle("disabled", !href);
    if (href) {
      link.href = `${href}?download=1`;
      link.setAttribute("download", "");
    } else {
      link.removeAttribute("href");
    }
  }
}

function showStill(src, result) {
  state.resultSrc = src;
  $("result").src = src;
  $("result").hidden = false;
  $("placeholder").hidden = true;
  $("strip").hidden = !result;
  if (result) {  // the first edited face
    $("strip-input").src = state.photo.faces[result.faces[0]].crop;
    $("strip-output").src = result.crops[0];
    $("strip-mask-figure").hidden = !result.masks;
    if (result.masks) $("strip-mask").src = result.masks[0];
  }
  setDownloads(result && result.downloads);
}

function editBody() {
  const body = {
    model: state.model.name, photo: state.photo.id, mask: state.mask,
    faces: [...state.selected].sort((a, b) => a - b),
  };
  const kind = state.model.kind;
  if (kind === "aus") Object.assign(body, { aus: state.aus, intensity: state.intensity });
  if (kind === "emotion") {
    Object.assign(body, { emotion: state.emotion, intensity: state.intensity });
  }
  if (kind === "transfer") body.source = state.source && state.source.id;
  if (kind === "motion") Object.assign(body, { emotion: state.emotion, seed: state.seed });
  return body;
}

function requestEdit() {
  const kind = state.model.kind;
  if (!state.photo || kind === "motion" || (kind === "transfer" && !state.source)) return;
  state.pending = true;
  if (!state.editing) runEdits();
}

async function runEdits() {
  state.editing = true;
  while (state.pending) {
    state.pending = false;
    const body = editBody();
    setStatus("Editing…", true);
    try {
      const result = await postJSON("/api/edit", body);
      if (!state.photo || body.photo !== state.photo.id || body.model !== state.model.name) {
        setStatus("Ready");  // an edit of a photo or model no longer shown
        continue;
      }
      showStill(result.image, result);
      showError("");
      const t = result.timing;
      setStatus(`Edited in ${Math.round(t.total_ms)} ms (model ${Math.round(t.model_ms)} ms)`);
    } catch (e) {
      showError(e.message);
      setStatus("");
    }
  }
  state.editing = false;
}

async function play(button) {
  if (!state.photo) return showError("Pick or upload a face first.");
  button.disabled = true;
  setStatus("Rendering the video…", true);
  try {
    const result = await postJSON("/api/play", editBody());
    state.resultSrc = result.video;
    $("result").src = result.video;
    $("result").hidden = false;
    $("placeholder").hidden = true;
    setDownloads(result.downloads);
    showError("");
    setStatus(`${result.frames} frames in ${(result.timing.total_ms / 1000).toFixed(1)} s`);
  } catch (e) {
    showError(e.message);
    setStatus("");
  }
  button.disabled = false;
}

// ---- controls -------------------------------------------------------------------------------
function slider(label, value, min, max, step, onInput, id) {
  const digits = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
  const output = el("output", { text: value.toFixed(digits) });
  const input = el("input", { type: "range", min, max, step, value, id, oninput: (event) => {
    const v = Number(event.target.value);
    output.textContent = v.toFixed(digits);
    onInput(v);
  } });
  const labelNode = el("label", { for: id });
  labelNode.innerHTML = label;
  return el("div", { class: "slider" }, [labelNode, input, output]);
}

function emotionButtons(emotions, selected, onPick) {
  const grid = el("div", { class: "emotions" });
  for (const emotion of emotions) {
    grid.append(el("button", {
      type: "button", text: emotion, "data-emotion": emotion,
      class: emotion === selected ? "selected" : "",
      onclick: () => {
        for (const b of grid.children) {
          b.classList.toggle("selected", b.dataset.emotion === emotion);
        }
        onPick(emotion);
      },
    }));
  }
  return grid;
}

function setAus(values) {
  state.aus = values.slice();
  state.info.aus.forEach((au, i) => {
    const input = $(`au-${au.name}`);
    input.value = values[i];
    input.nextElementSibling.textContent = Number(values[i]).toFixed(1);
  });
}

function commonRow(canMask) {
  const row = el("div", { class: "row" });
  if (canMask) {
    const box = el("input", { type: "checkbox", id: "show-mask", onchange: (event) => {
      state.mask = event.target.checked;
      requestEdit();
    } });
    box.checked = state.mask;
    row.append(el("label", { class: "check" }, [box, "Show attention mask"]));
  }
  row.append(el("span", { class: "spacer", style: "flex:1" }));
  row.append(el("button", { type: "button", class: "primary", id: "play",
                            text: "▶ Play", onclick: (event) => play(event.currentTarget) }));
  return row;
}

function renderControls() {
  const model = state.model, controls = $("controls");
  $("model-title").textContent = `${model.title} · ${model.size} px crops · step ${model.step}`;
  controls.replaceChildren();
  if (model.kind === "aus") {
    state.aus = state.info.aus.map(() => 0);
    state.intensity = 1;
    controls.append(
      el("div", { class: "section-title", text: "Emotion presets (EMFACS)" }),
      emotionButtons(model.emotions, null, (emotion) => {
        setAus(state.info.presets[emotion]);
        requestEdit();
      }),
      slider("Intensity <small>× the AUs below; above 1 exaggerates</small>", 1, 0, 2, 0.05,
             (v) => { state.intensity = v; requestEdit(); }, "intensity"),
      commonRow(model.masks),
      el("div", { class: "section-title", text: "Action units (0–5)" }),
      el("div", { class: "aus" }, state.info.aus.map((au, i) => slider(
        `${au.name} <small>${au.description}</small>`, 0, 0, 5, 0.1, (v) => {
          state.aus[i] = v;
          for (const b of controls.querySelectorAll(".emotions button")) {
            b.classList.remove("selected");  // no longer a preset
          }
          requestEdit();
        }, `au-${au.name}`))),
    );
  } else if (model.kind === "emotion") {
    state.emotion = "neutral";  // the start: the photo untouched until a button is pressed
    state.intensity = 1;
    controls.append(
      emotionButtons(model.emotions, state.emotion, (e) => { state.emotion = e; requestEdit(); }),
      slider("Intensity <small>blend from neutral (0) to the emotion (1)</small>", 1, 0, 1, 0.05,
             (v) => { state.intensity = v; requestEdit(); }, "intensity"),
      commonRow(model.masks),
    );
  } else if (model.kind === "transfer") {
    const grid = el("div", { class: "samples", id: "source-samples" });
    const input = el("input", { type: "file", accept: "image/*", id: "source-upload" });
    input.addEventListener("change", () => {
      if (input.files[0]) choose("source", () => upload(input.files[0]));
      input.value = "";
    });
    controls.append(
      el("div", { class: "section-title", text: "Expression source: the face to copy" }),
      grid,
      el("label", { class: "button upload" }, ["Upload the source photo…", input]),
      el("div", { class: "crops", id: "source-crop" }),
    );
    sampleGrid(grid, (id) => choose("source", () => loadPhoto(id)));
    if (state.source) setSource(state.source);
  } else {
    state.emotion = model.emotions[0];
    controls.append(
      el("div", { class: "section-title", text: "Expression of the video" }),
      emotionButtons(model.emotions, state.emotion, (e) => { state.emotion = e; }),
      slider("Motion sample <small>(seed)</small>", 0, 0, 20, 1,
             (v) => { state.seed = v; }, "seed"),
      commonRow(false),
    );
  }
}

function setSource(photo) {
  state.source = photo;
  const crop = $("source-crop");
  if (crop) crop.replaceChildren(cropView(photo.faces[0]));
  requestEdit();
}

async function changeModel(name) {
  state.model = state.info.models.find((m) => m.name === name);
  renderControls();
  const [photo, source] = [state.photo, state.source];
  [state.photo, state.source] = [null, null];  // their crops are at the previous model's size
  if (source) await choose("source", () => loadPhoto(source.id));  // crops at this model's size
  if (photo) await choose("photo", () => loadPhoto(photo.id));
  else setDownloads(null);
}

async function waitUntilReady() {
  for (;;) {
    const health = await api("/api/health").catch(() => null);
    if (health && health.ready) break;
    setStatus("Compiling the models (once, at start-up)…", true);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (!state.editing) setStatus("Ready");
}

async function init() {
  try {
    state.info = await api("/api/info");
  } catch (e) {
    return showError(e.message);
  }
  const select = $("model");
  select.replaceChildren(...state.info.models.map(
    (m) => el("option", { value: m.name, text: m.name })));
  select.addEventListener("change", () => changeModel(select.value));
  state.model = state.info.models[0];
  const limits = state.info.limits;
  $("limits").textContent = `JPEG, PNG, WebP or BMP, up to ${limits.max_upload_mb} MB and ` +
    `${limits.max_megapixels} MP; every frontal face dlib finds is edited (click a face ` +
    "to leave it out).";
  sampleGrid($("samples"), (id) => choose("photo", () => loadPhoto(id)));
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (file) {
      for (const b of $("samples").children) b.classList.remove("selected");
      state.file = file;  // for "Look harder for faces"
      choose("photo", () => upload(file));
    }
    $("upload").value = "";  // the same file again is a new choice
  });
  $("look-harder").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    await choose("photo", () => upload(state.file, true));
    button.disabled = false;
  });
  const compare = $("compare");
  const original = (on) => {
    if (state.photo) $("result").src = on ? state.photo.image : state.resultSrc;
  };
  compare.addEventListener("pointerdown", () => original(true));
  for (const e of ["pointerup", "pointerleave"]) compare.addEventListener(e, () => original(false));
  renderControls();
  waitUntilReady();
}

init();
