// The editor's faces (loaded before app.js, whose globals these use when called): the samples,
// uploads ("Look harder for faces": the same file searched at twice the scale), the photo with
// its face boxes and crops, a click toggling whether a face is edited, and the faces the search
// skipped, drawn dashed with their reason.
"use strict";

function sampleGrid(container, onPick) {
  container.replaceChildren(...state.info.samples.map((sample, k) => el("button", {
    type: "button", title: `SynthFaces identity ${sample.identity}`, "data-sample": k,
    onclick: (event) => {
      for (const b of container.children) b.classList.remove("selected");
      event.currentTarget.classList.add("selected");
      onPick(sample.id);
    },
  }, [el("img", { src: sample.thumbnail, alt: `sample face ${k + 1}` })])));
}

function cropView(face) {
  const marks = svg("svg", { viewBox: `0 0 ${face.size} ${face.size}` });
  for (const [x, y] of face.landmarks) {  // pixel centres at integers
    marks.append(svg("circle", { cx: x + 0.5, cy: y + 0.5, r: face.size / 90, fill: "#39ff88" }));
  }
  return el("div", { class: "crop" }, [el("img", { src: face.crop, alt: "face crop" }), marks]);
}

async function loadPhoto(id) {
  return api(`/api/photos/${encodeURIComponent(id)}?model=${encodeURIComponent(state.model.name)}`);
}

async function upload(file, thorough = false) {
  const limit = state.info.limits.max_upload_mb;
  if (file.size > limit * 2 ** 20) {
    throw new Error(`${file.name} is over the ${limit} MB upload limit; send a smaller file.`);
  }
  setStatus(`${thorough ? "Looking harder for faces" : "Finding faces"} in ${file.name}…`, true);
  const query = `model=${encodeURIComponent(state.model.name)}${thorough ? "&thorough=1" : ""}`;
  return api(`/api/photos?${query}`, {
    method: "POST", body: file, headers: { "X-Filename": encodeURIComponent(file.name) },
  });
}

function rect([x0, y0, x1, y1], attributes) {
  return svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, ...attributes });
}

function setPhoto(photo) {
  state.photo = photo;
  if (state.selectedOf !== photo.id) {  // a new photo: every face, until one is clicked (the
    state.selected = new Set(photo.faces.map((_, i) => i));  // same photo at another model's
    state.selectedOf = photo.id;  // size keeps its picks)
  }
  $("photo-view").hidden = false;
  $("photo").src = photo.image;
  const boxes = $("boxes");
  boxes.setAttribute("viewBox", `0 0 ${photo.width} ${photo.height}`);
  const stroke = Math.max(photo.width, photo.height) / 120;  // about 2 px on the page
  state.dash = `${stroke * 2} ${stroke * 1.2}`;  // in the photo's pixels, as the stroke
  boxes.replaceChildren(
    ...photo.skipped.map((face) => {
      const node = rect(face.box, { class: "skipped", "stroke-width": stroke,
                                    "stroke-dasharray": state.dash });
      node.append(svg("title"));
      node.firstChild.textContent = `Skipped: ${face.reason}`;
      return node;
    }),
    ...photo.faces.map((face, i) => {
      const node = rect(face.box, { class: "face", "data-face": i, "stroke-width": stroke });
      node.append(svg("title"));
      node.addEventListener("click", () => toggleFace(i));
      return node;
    }));
  $("crops").classList.toggle("many", photo.faces.length > 1);  // two a row
  $("crops").replaceChildren(...photo.faces.map((face, i) => {
    const view = cropView(face);
    view.dataset.face = i;
    view.classList.add("pickable");
    view.addEventListener("click", () => toggleFace(i));
    return view;
  }));
  const harder = $("look-harder");  // samples are drawn, not searched; a thorough search is done
  harder.hidden = photo.thorough || photo.id.startsWith("sample-") || !state.file;
  harder.disabled = false;
  showFaces();
  showStill(photo.image, null);
  $("compare").disabled = false;
  requestEdit();
}

function showFaces() {
  const photo = state.photo, count = photo.faces.length, edited = state.selected.size;
  for (const node of document.querySelectorAll("#boxes rect.face, #crops .crop")) {
    const i = Number(node.dataset.face), on = state.selected.has(i);
    const tip = `Face ${i + 1}: ` +
      (on ? "edited (click to leave it out)" : "left out (click to edit it)");
    node.classList.toggle("off", !on);
    if (node.tagName === "rect") {
      node.firstChild.textContent = tip;
      node.setAttribute("stroke-dasharray", on ? "none" : state.dash);
    } else {
      node.title = tip;
    }
  }
  let caption = `${photo.name} · ${photo.width}×${photo.height} · ${count} face` +
    (count > 1 ? "s" : "");
  if (edited < count) caption += ` (${edited} edited)`;
  const skipped = photo.skipped.length;
  if (skipped) {
    caption += ` · ${skipped} skipped: ${photo.skipped.map((face) => face.reason).join(" · ")}`;
  }
  $("photo-caption").textContent = caption;
}

function toggleFace(i) {
  if (state.selected.has(i) && state.selected.size === 1) {
    return showError("At least one face is edited: click another face first, then this one.");
  }
  showError("");
  if (state.selected.has(i)) state.selected.delete(i); else state.selected.add(i);
  showFaces();
  requestEdit();
}

async function choose(what, action) {
  showError("");
  try {
    const photo = await action();
    if (what === "source") setSource(photo); else setPhoto(photo);
    if (!state.editing) setStatus("Ready");
  } catch (e) {
    showError(e.message);
    setStatus("");
  }
}
