// digitnet web app: draw a digit and watch the network think.
// Every number shown comes from the server (digitnet's library): preprocessing, activations,
// neuron pictures, edited predictions. This file only draws them. Layers are numbered from 0:
// layer L's neurons are the outputs of net.layers[L]; the input is the 28×28 grid.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const THROTTLE_MS = 100;      // at most one prediction request per 100 ms while drawing
const BRUSH = 20;             // brush diameter in pad pixels (the pad is 280×280)
const BLUE = [88, 196, 221];
const RED = [252, 98, 85];
const SHOWN_CONNECTIONS = 14; // strongest connections drawn for a selected hidden neuron
const SHOWN_PIXELS = 40;      // strongest pixel connections drawn for a layer-0 neuron

const $ = (id) => document.getElementById(id);

const state = {
  model: null,
  strokes: [],          // each {points: [[x, y], ...]} or {pixels: 28×28} (a loaded test digit)
  input: null,          // the 28×28 the network received for what is on the pad
  inputFrom: null,      // "image" (server preprocessed the pad) or "pixels" (a test digit as is)
  base: null,           // prediction of the unedited network for input
  shown: null,          // prediction shown: edited if there are edits
  edits: new Map(),     // "L:J" -> {layer, index, bias?, weight_scale?}
  selected: null,       // {layer, index}
  neuronInfo: new Map(),// "L:J:method" -> /api/neuron response
  sampleSeed: 0,
};

// ------------------------------------------------------------------------------------ API

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = response.status;
    throw error;
  }
  return body;
}

const postJSON = (path, body) => api(path, {
  method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
});

function editList() {
  return Array.from(state.edits.values());
}

function showStatus(message) {
  const status = $("status");
  status.textContent = message || "";
  status.hidden = !message;
}

// ------------------------------------------------------------------------------------ drawing pad

const pad = $("pad");
const padContext = pad.getContext("2d");

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * pad.width / rect.width, (event.clientY - rect.top) * pad.height / rect.height];
}

function paintStroke(points) {
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  padContext.lineWidth = BRUSH;
  padContext.strokeStyle = "#fff";
  padContext.fillStyle = "#fff";
  if (points.length === 1) {
    padContext.beginPath();
    padContext.arc(points[0][0], points[0][1], BRUSH / 2, 0, 2 * Math.PI);
    padContext.fill();
    return;
  }
  padContext.beginPath();
  padContext.moveTo(points[0][0], points[0][1]);
  for (const [x, y] of points.slice(1)) padContext.lineTo(x, y);
  padContext.stroke();
}

function gridCanvas(grid, colour) {
  // A 28×28 canvas of grid values; colour(v) -> [r, g, b, a].
  const side = grid.length;
  const canvas = document.createElement("canvas");
  canvas.width = side;
  canvas.height = side;
  paintGrid(canvas, grid, colour);
  return canvas;
}

function paintGrid(canvas, grid, colour) {
  const side = grid.length;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      const [red, green, blue, alpha] = colour(grid[r][c]);
      const k = 4 * (r * side + c);
      image.data[k] = red; image.data[k + 1] = green; image.data[k + 2] = blue; image.data[k + 3] = alpha;
    }
  }
  context.putImageData(image, 0, 0);
}

const inkAlpha = (v) => [255, 255, 255, Math.round(255 * Math.min(1, Math.max(0, v)))];
const grey = (v) => { const g = Math.round(255 * Math.min(1, Math.max(0, v))); return [g, g, g, 255]; };

function redrawPad() {
  padContext.clearRect(0, 0, pad.width, pad.height);
  for (const stroke of state.strokes) {
    if (stroke.pixels) {
      padContext.imageSmoothingEnabled = true;
      padContext.imageSmoothingQuality = "high";
      padContext.drawImage(gridCanvas(stroke.pixels, inkAlpha), 0, 0, pad.width, pad.height);
    } else {
      paintStroke(stroke.points);
    }
  }
  const empty = state.strokes.length === 0;
  $("pad-hint").hidden = !empty;
  $("undo").disabled = empty;
  $("clear").disabled = empty;
}

let activeStroke = null;

pad.addEventListener("pointerdown", (event) => {
  if (activeStroke || (event.button !== undefined && event.button > 0)) return;  // one finger draws
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  activeStroke = { points: [padPoint(event)], pointerId: event.pointerId };
  state.strokes.push(activeStroke);
  redrawPad();
  requestPrediction();
});

pad.addEventListener("pointermove", (event) => {
  if (!activeStroke || event.pointerId !== activeStroke.pointerId) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  const last = activeStroke.points[activeStroke.points.length - 1];
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  padContext.lineWidth = BRUSH;
  padContext.strokeStyle = "#fff";
  padContext.beginPath();
  padContext.moveTo(last[0], last[1]);
  for (const e of events.length ? events : [event]) {
    const point = padPoint(e);
    activeStroke.points.push(point);
    padContext.lineTo(point[0], point[1]);
  }
  padContext.stroke();
  requestPrediction();
});

function endStroke(event) {
  if (!activeStroke || event.pointerId !== activeStroke.pointerId) return;
  activeStroke = null;
  requestPrediction(true);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
pad.addEventListener("lostpointercapture", endStroke);

$("undo").addEventListener("click", () => {
  state.strokes.pop();
  redrawPad();
  afterPadChange();
});

$("clear").addEventListener("click", () => {
  state.strokes = [];
  redrawPad();
  afterPadChange();
});

function afterPadChange() {
  if (state.strokes.length === 0) {
    clearPrediction();
  } else if (state.strokes.length === 1 && state.strokes[0].pixels) {
    loadPixels(state.strokes[0].pixels);
  } else {
    requestPrediction(true);
  }
}

// ------------------------------------------------------------------------------------ predictions
// One request chain at a time. Drawing marks the pad dirty; edits mark the edits dirty. The
// pump sends the pad (as a PNG, preprocessed by the server) at most every THROTTLE_MS, and
// immediately at the end of a stroke; edited predictions reuse the 28×28 input.

const work = { padDirty: false, pixelsDirty: false, editsDirty: false, busy: false, urgent: false, lastSent: 0, timer: null, generation: 0 };

function requestPrediction(urgent = false) {
  work.padDirty = true;
  work.pixelsDirty = false;
  work.urgent = work.urgent || urgent;
  pump();
}

function requestEdited() {
  work.editsDirty = true;
  pump();
}

function pump() {
  if (work.busy || work.timer) return;
  if (!work.padDirty && !work.pixelsDirty && !work.editsDirty) return;
  const wait = work.padDirty && !work.urgent ? THROTTLE_MS - (performance.now() - work.lastSent) : 0;
  if (wait > 0) {
    work.timer = setTimeout(() => { work.timer = null; pump(); }, wait);
    return;
  }
  run();
}

function padBlob() {
  return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
}

async function run() {
  work.busy = true;
  const generation = work.generation;
  try {
    if (work.padDirty) {
      work.padDirty = false;
      work.urgent = false;
      work.lastSent = performance.now();
      if (state.strokes.length === 0) return;
      const form = new FormData();
      form.append("file", await padBlob(), "pad.png");
      const result = await api("/api/predict-image", { method: "POST", body: form });
      if (generation !== work.generation) return;
      state.input = result.input;
      state.inputFrom = "image";
      state.base = result;
      work.editsDirty = true;
    } else if (work.pixelsDirty) {
      work.pixelsDirty = false;
      const result = await postJSON("/api/predict", { pixels: state.input });
      if (generation !== work.generation) return;
      state.base = result;
      work.editsDirty = true;
    }
    if (work.editsDirty) {
      work.editsDirty = false;
      if (state.input && state.edits.size) {
        const edited = await postJSON("/api/predict-edited", { pixels: state.input, edits: editList() });
        if (generation !== work.generation) return;
        state.shown = edited;
      } else {
        state.shown = state.base;
      }
    }
    showStatus("");
    render();
  } catch (error) {
    if (error.status === 422 && /no ink|blank/i.test(error.message)) {
      clearPrediction(false);  // strokes too faint to find: nothing to show yet
    } else {
      showStatus(`Could not get a prediction: ${error.message}`);
    }
  } finally {
    work.busy = false;
    pump();
  }
}

function loadPixels(pixels) {
  state.input = pixels;
  state.inputFrom = "pixels";
  work.padDirty = false;
  work.pixelsDirty = true;
  pump();
}

function clearPrediction(forget = true) {
  if (forget) work.generation += 1;
  work.padDirty = work.pixelsDirty = work.editsDirty = false;
  state.input = state.base = state.shown = null;
  render();
}

// ------------------------------------------------------------------------------------ result

function buildBars(classNames) {
  const list = $("bars");
  list.replaceChildren();
  classNames.forEach((name) => {
    const item = document.createElement("li");
    item.className = "bar";
    item.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span><span class="ghost-mark"></span></span><span class="value">–</span>';
    item.querySelector(".label").textContent = name;
    list.append(item);
  });
}

function renderBars() {
  const shown = state.shown;
  const edited = Boolean(shown && state.edits.size && state.base);
  const answer = $("answer");
  answer.textContent = shown ? (shown.not_a_digit ? "?" : shown.label) : "–";
  answer.title = shown && shown.not_a_digit ? `Not a digit: ${shown.not_a_digit}` : "";
  answer.classList.toggle("edited", edited);
  $("edit-note").hidden = !edited;
  Array.from($("bars").children).forEach((item, k) => {
    const value = shown ? shown.outputs[k] : 0;
    item.querySelector(".fill").style.width = `${(100 * Math.min(1, Math.max(0, value))).toFixed(1)}%`;
    item.querySelector(".value").textContent = shown ? value.toFixed(2) : "–";
    item.classList.toggle("top", Boolean(shown) && k === shown.digit);
    item.classList.toggle("edited", edited);
    if (edited) item.querySelector(".ghost-mark").style.left = `calc(${(100 * Math.min(1, Math.max(0, state.base.outputs[k]))).toFixed(1)}% - 1px)`;
  });
}

const SEEN_DEFAULT = "Your drawing as MNIST digits were made: cropped to the ink, the longer side scaled to 20 pixels, centred by its centre of mass in 28×28. These 784 brightnesses are the input.";

function renderSeen() {
  const seen = $("seen");
  if (state.input) paintGrid(seen, state.input, grey);
  else seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  let note = SEEN_DEFAULT;
  if (state.input && state.inputFrom === "pixels") {
    note = "A digit from the MNIST test set, exactly as stored. These 784 brightnesses are the input.";
  } else if (state.input && state.base && state.base.preprocessing) {
    const info = state.base.preprocessing;
    const [left, top, right, bottom] = info.bounding_box;
    note = `Your ${right - left}×${bottom - top} pixel drawing, cropped, scaled ×${info.scale.toFixed(2)} so its longer side is 20 pixels, and centred by its centre of mass in 28×28, as MNIST digits were made. These 784 brightnesses are the input.`;
  }
  $("seen-note").textContent = note;
}

function render() {
  renderBars();
  renderSeen();
  renderNetwork();
  renderNeuronFacts();
}

// ------------------------------------------------------------------------------------ network view

const net = { svg: $("net"), layers: [], gridImage: null, grid: null, strong: null, rings: null, labels: [] };

function svg(tag, attributes = {}, parent = null) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (parent) parent.append(element);
  return element;
}

function buildNetwork(model) {
  const sizes = model.sizes.slice(1);         // neurons of layers 0..L-1
  const compact = net.svg.clientWidth > 0 && net.svg.clientWidth < 520;  // a phone: fewer, larger units
  net.compact = compact;
  net.svg.classList.toggle("compact", compact);
  const height = 440;
  const gridSide = compact ? 112 : 168;        // 4 or 6 units per input pixel
  const top = 26;
  const usable = height - top - 10;
  const gridX = 4;
  const gridY = top + (usable - gridSide) / 2;
  const maxRows = 32;
  const columnGap = sizes.length > 1 ? Math.max(compact ? 84 : 110, Math.min(compact ? 100 : 150, 420 / (sizes.length - 1))) : 0;
  let cursor = gridX + gridSide + (compact ? 52 : 86);  // left edge of the next layer's column(s)
  const layout = sizes.map((count) => {
    const columns = Math.ceil(count / maxRows);
    const rows = Math.ceil(count / columns);
    const step = usable / rows;
    const radius = Math.max(2.5, Math.min(13, step * 0.38));
    const subGap = Math.max(2.4 * radius + 2, 8);
    const span = (columns - 1) * subGap;
    const centre = cursor + span / 2;
    cursor += span + columnGap;
    const positions = [];
    for (let j = 0; j < count; j++) {
      const column = Math.floor(j / rows);
      const row = j % rows;
      positions.push([centre + (column - (columns - 1) / 2) * subGap, top + step * (row + 0.5) + (usable - step * rows) / 2]);
    }
    return { count, radius, positions, hitRadius: Math.max(radius + 2, Math.min(step / 2, 18)) };
  });
  const last = layout[layout.length - 1];
  const width = Math.max(...last.positions.map((p) => p[0])) + last.radius + 40;
  net.svg.setAttribute("viewBox", `0 0 ${width.toFixed(0)} ${height}`);
  net.svg.replaceChildren();

  // Titles.
  const titles = svg("g", {}, net.svg);
  svg("text", { x: gridX + gridSide / 2, y: 14, class: "layer-title" }, titles).textContent = "input 28×28";
  layout.forEach((layer, L) => {
    const x = layer.positions.reduce((s, p) => s + p[0], 0) / layer.count;
    const name = L === layout.length - 1 ? `output (layer ${L})` : `layer ${L}`;
    svg("text", { x, y: 14, class: "layer-title" }, titles).textContent = name;
  });

  // Faint connections, as in the video, between layers small enough to draw them.
  const links = svg("g", {}, net.svg);
  const gridEdge = [gridX + gridSide, gridY + gridSide / 2];
  if (layout[0].count <= 32) {
    for (const [x, y] of layout[0].positions) {
      svg("line", { x1: gridEdge[0], y1: gridY + 8 + (gridSide - 16) * ((y - top) / usable), x2: x, y2: y, class: "link" }, links);
    }
  }
  for (let L = 1; L < layout.length; L++) {
    if (layout[L].count * layout[L - 1].count > 1200) continue;
    for (const [x1, y1] of layout[L - 1].positions) {
      for (const [x2, y2] of layout[L].positions) svg("line", { x1, y1, x2, y2, class: "link" }, links);
    }
  }

  // The input grid.
  svg("rect", { x: gridX - 1, y: gridY - 1, width: gridSide + 2, height: gridSide + 2, class: "grid-frame", rx: 3 }, net.svg);
  net.gridImage = svg("image", { x: gridX, y: gridY, width: gridSide, height: gridSide, preserveAspectRatio: "none" }, net.svg);
  net.grid = { x: gridX, y: gridY, side: gridSide };

  net.strong = svg("g", {}, net.svg);   // the selected neuron's strongest connections
  net.layers = layout.map((layer, L) => {
    const group = svg("g", {}, net.svg);
    const dots = layer.positions.map(([x, y], j) => {
      const dot = svg("circle", { cx: x, cy: y, r: layer.radius, class: "neuron-dot", fill: "#000" }, group);
      const title = svg("title", {}, dot);
      title.textContent = `layer ${L}, neuron ${j}`;
      return { dot, title };
    });
    return { ...layer, dots };
  });
  net.rings = svg("g", {}, net.svg);
  // Output labels.
  net.labels = last.positions.map(([x, y], k) => {
    const label = svg("text", { x: x + last.radius + 8, y, class: "out-label" }, net.svg);
    label.textContent = model.class_names[k];
    return label;
  });
  // Hit targets last, so they are on top: bigger than the dots for fingers; keyboard-focusable.
  const hits = svg("g", {}, net.svg);
  net.layers.forEach((layer, L) => {
    layer.positions.forEach(([x, y], j) => {
      const hit = svg("circle", { cx: x, cy: y, r: layer.hitRadius, class: "hit", tabindex: 0, role: "button", "data-layer": L, "data-index": j, "aria-label": `layer ${L}, neuron ${j}` }, hits);
      const title = svg("title", {}, hit);
      title.textContent = `layer ${L}, neuron ${j}`;
      layer.dots[j].hitTitle = title;
    });
  });
  hits.addEventListener("click", (event) => {
    const target = event.target.closest(".hit");
    if (target) selectNeuron(Number(target.dataset.layer), Number(target.dataset.index));
  });
  hits.addEventListener("keydown", (event) => {
    const target = event.target.closest(".hit");
    if (target && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      selectNeuron(Number(target.dataset.layer), Number(target.dataset.index));
    }
  });
  renderNetwork();
}

function displayLevel(values, activation) {
  // Sigmoid and softmax activations are in [0, 1] already; others are scaled by the layer's largest.
  if (activation === "sigmoid" || activation === "softmax") return values.map((v) => Math.min(1, Math.max(0, v)));
  const largest = Math.max(1e-9, ...values.map(Math.abs));
  return values.map((v) => Math.min(1, Math.abs(v) / largest));
}

function renderNetwork() {
  if (!net.layers.length || !state.model) return;
  const shown = state.shown;
  if (state.input) {
    net.gridImage.setAttribute("href", gridCanvas(state.input, grey).toDataURL());
    net.gridImage.removeAttribute("visibility");
  } else {
    net.gridImage.setAttribute("visibility", "hidden");
  }
  net.layers.forEach((layer, L) => {
    const activation = state.model.layers[L].activation;
    const values = shown ? shown.activations[L] : null;
    const levels = values ? displayLevel(values, activation) : null;
    layer.dots.forEach(({ dot, hitTitle }, j) => {
      const level = levels ? levels[j] : 0;
      const g = Math.round(255 * level);
      dot.setAttribute("fill", `rgb(${g},${g},${g})`);
      const text = `layer ${L}, neuron ${j}` + (values ? `: activation ${values[j].toFixed(3)}` : "");
      hitTitle.textContent = text;
    });
  });
  net.labels.forEach((label, k) => label.classList.toggle("top", Boolean(shown) && k === shown.digit));
  renderRings();
}

function renderRings() {
  net.rings.replaceChildren();
  for (const edit of state.edits.values()) {
    const layer = net.layers[edit.layer];
    const [x, y] = layer.positions[edit.index];
    svg("circle", { cx: x, cy: y, r: layer.radius + 3.5, class: "ring edited" }, net.rings);
  }
  if (state.selected) {
    const layer = net.layers[state.selected.layer];
    const [x, y] = layer.positions[state.selected.index];
    svg("circle", { cx: x, cy: y, r: layer.radius + 4, class: "ring selected" }, net.rings);
  }
}

function weightColour(weight, largest) {
  const [r, g, b] = weight >= 0 ? BLUE : RED;
  return `rgba(${r},${g},${b},${(0.25 + 0.75 * Math.min(1, Math.abs(weight) / largest)).toFixed(3)})`;
}

function renderStrongConnections(info) {
  net.strong.replaceChildren();
  if (!info) return;
  const layer = net.layers[info.layer];
  const [x, y] = layer.positions[info.index];
  const incoming = info.incoming.slice(0, info.layer === 0 ? SHOWN_PIXELS : SHOWN_CONNECTIONS);
  const outgoing = info.outgoing.slice(0, SHOWN_CONNECTIONS);
  const largest = Math.max(1e-9, ...incoming.concat(outgoing).map((c) => Math.abs(c.weight)));
  const line = (x1, y1, x2, y2, weight) => svg("line", {
    x1, y1, x2, y2, class: "strong", stroke: weightColour(weight, largest),
    "stroke-width": (0.8 + 3.2 * Math.abs(weight) / largest).toFixed(2),
  }, net.strong);
  for (const c of incoming) {
    if (info.layer === 0) {
      const side = state.model.sizes[0] === 784 ? 28 : Math.round(Math.sqrt(state.model.sizes[0]));
      const px = net.grid.x + ((c.neuron % side) + 0.5) * net.grid.side / side;
      const py = net.grid.y + (Math.floor(c.neuron / side) + 0.5) * net.grid.side / side;
      line(px, py, x, y, c.weight);
      svg("circle", { cx: px, cy: py, r: 2.2, fill: weightColour(c.weight, largest) }, net.strong);
    } else {
      const [sx, sy] = net.layers[info.layer - 1].positions[c.neuron];
      line(sx, sy, x, y, c.weight);
    }
  }
  if (info.layer + 1 < net.layers.length) {
    for (const c of outgoing) {
      const [tx, ty] = net.layers[info.layer + 1].positions[c.neuron];
      line(x, y, tx, ty, c.weight);
    }
  }
}

// ------------------------------------------------------------------------------------ one neuron

const key = (layer, index) => `${layer}:${index}`;

async function neuronInfo(layer, index, method) {
  const cacheKey = `${layer}:${index}:${method}`;
  if (!state.neuronInfo.has(cacheKey)) {
    state.neuronInfo.set(cacheKey, api(`/api/neuron/${layer}/${index}?method=${method}`));
  }
  try {
    return await state.neuronInfo.get(cacheKey);
  } catch (error) {
    state.neuronInfo.delete(cacheKey);
    throw error;
  }
}

async function selectNeuron(layer, index) {
  state.selected = { layer, index };
  renderRings();
  $("neuron-empty").hidden = true;
  $("neuron-body").hidden = false;
  const last = layer === state.model.sizes.length - 2;
  $("neuron-title").textContent = last
    ? `Output neuron ${index} (“${state.model.class_names[index]}”)`
    : `Layer ${layer}, neuron ${index}`;
  if (window.matchMedia("(max-width: 1100px)").matches) {
    $("neuron-panel").scrollIntoView({ behavior: "smooth", block: "nearest" });
  }
  await showNeuron();
}

async function showNeuron() {
  const selected = state.selected;
  if (!selected) return;
  const method = $("picture-method").value;
  let info;
  try {
    info = await neuronInfo(selected.layer, selected.index, method);
  } catch (error) {
    showStatus(`Could not load the neuron: ${error.message}`);
    return;
  }
  if (state.selected !== selected) return;  // another neuron was clicked meanwhile
  selected.info = info;
  $("neuron-desc").textContent = `Picture: ${info.picture_description}.`;
  paintPicture(info);
  $("neuron-weights").textContent = `${state.model.sizes[info.layer]} (from ${info.weight_range[0].toFixed(2)} to ${info.weight_range[1].toFixed(2)})`;
  const edit = state.edits.get(key(info.layer, info.index)) || {};
  const bias = $("bias");
  bias.min = (Math.min(-10, info.bias - 10)).toFixed(2);
  bias.max = (Math.max(10, info.bias + 10)).toFixed(2);
  bias.value = edit.bias ?? info.bias;
  $("scale").value = edit.weight_scale ?? 1;
  renderStrongConnections(info);
  renderNeuronFacts();
}

function paintPicture(info) {
  const canvas = $("neuron-picture");
  if (info.picture_method === "maximize") {
    paintGrid(canvas, info.picture, grey);
    return;
  }
  // Colour scale: the 99th percentile of |value|, so a few extreme weights do not darken the rest.
  const magnitudes = info.picture.flat().map(Math.abs).sort((a, b) => a - b);
  const largest = Math.max(1e-12, magnitudes[Math.floor(0.99 * (magnitudes.length - 1))]);
  paintGrid(canvas, info.picture, (v) => {
    const t = Math.min(1, Math.abs(v) / largest);
    const [r, g, b] = v >= 0 ? BLUE : RED;
    return [Math.round(r * t), Math.round(g * t), Math.round(b * t), 255];
  });
}

function renderNeuronFacts() {
  const selected = state.selected;
  if (!selected || !selected.info) return;
  const info = selected.info;
  const edit = state.edits.get(key(info.layer, info.index)) || {};
  const value = state.shown ? state.shown.activations[info.layer][info.index] : null;
  const before = state.base ? state.base.activations[info.layer][info.index] : null;
  let text = value === null ? "draw a digit to see it" : value.toFixed(3);
  if (value !== null && state.edits.size && before !== null && Math.abs(before - value) > 5e-4) {
    text += ` (unedited ${before.toFixed(3)})`;
  }
  $("neuron-activation").textContent = text;
  const bias = edit.bias ?? info.bias;
  $("neuron-bias").textContent = edit.bias !== undefined ? `${bias.toFixed(2)} (was ${info.bias.toFixed(2)})` : info.bias.toFixed(3);
  $("bias-out").textContent = Number(bias).toFixed(2);
  $("scale-out").textContent = Number(edit.weight_scale ?? 1).toFixed(2);
  $("reset-all").disabled = state.edits.size === 0;
  $("reset-neuron").disabled = !state.edits.has(key(info.layer, info.index));
}

function onSlider() {
  const selected = state.selected;
  if (!selected || !selected.info) return;
  const info = selected.info;
  const bias = Number($("bias").value);
  const scale = Number($("scale").value);
  const edit = { layer: info.layer, index: info.index };
  if (Math.abs(bias - info.bias) > 1e-9) edit.bias = bias;
  if (Math.abs(scale - 1) > 1e-9) edit.weight_scale = scale;
  if (edit.bias === undefined && edit.weight_scale === undefined) state.edits.delete(key(info.layer, info.index));
  else state.edits.set(key(info.layer, info.index), edit);
  renderNeuronFacts();
  renderRings();
  requestEdited();
}
$("bias").addEventListener("input", onSlider);
$("scale").addEventListener("input", onSlider);
$("picture-method").addEventListener("change", showNeuron);

$("reset-neuron").addEventListener("click", () => {
  const selected = state.selected;
  if (!selected || !selected.info) return;
  state.edits.delete(key(selected.info.layer, selected.info.index));
  $("bias").value = selected.info.bias;
  $("scale").value = 1;
  renderNeuronFacts();
  renderRings();
  requestEdited();
});

$("reset-all").addEventListener("click", () => {
  state.edits.clear();
  if (state.selected && state.selected.info) {
    $("bias").value = state.selected.info.bias;
    $("scale").value = 1;
  }
  renderNeuronFacts();
  renderRings();
  requestEdited();
});

// ------------------------------------------------------------------------------------ samples

async function loadSamples() {
  const grid = $("samples");
  const note = $("samples-note");
  let result;
  try {
    result = await api(`/api/samples?count=12&mistakes=4&seed=${state.sampleSeed}`);
  } catch (error) {
    note.textContent = `Test digits could not be loaded: ${error.message}`;
    return;
  }
  if (!result.available) {
    note.textContent = `No test digits: ${result.message}. Drawing works without them.`;
    $("more-samples").disabled = true;
    grid.replaceChildren();
    return;
  }
  $("more-samples").disabled = false;
  grid.replaceChildren(...result.samples.map((sample) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = sample.correct ? "sample" : "sample wrong";
    const names = state.model.class_names;
    const verdict = sample.correct ? `${names[sample.label]} ✓` : `${names[sample.label]} → ${names[sample.predicted]}`;
    button.title = `Test digit #${sample.index}: labelled ${names[sample.label]}, the network says ${names[sample.predicted]} (${sample.confidence.toFixed(2)})`;
    button.setAttribute("aria-label", button.title);
    const canvas = gridCanvas(sample.pixels, grey);
    const caption = document.createElement("span");
    caption.className = "verdict";
    caption.textContent = verdict;
    button.append(canvas, caption);
    button.addEventListener("click", () => {
      work.generation += 1;
      state.strokes = [{ pixels: sample.pixels }];
      redrawPad();
      loadPixels(sample.pixels);
      if (window.matchMedia("(max-width: 720px)").matches) pad.scrollIntoView({ behavior: "smooth", block: "start" });
    });
    return button;
  }));
}

$("more-samples").addEventListener("click", () => {
  state.sampleSeed += 1;
  loadSamples();
});

// ------------------------------------------------------------------------------------ model

function renderModel(model) {
  const accuracy = model.metrics && typeof model.metrics.test_accuracy === "number" ? model.metrics.test_accuracy : null;
  const arch = model.sizes.join("–");
  const chip = $("model-chip");
  chip.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = arch;
  chip.append(strong, ` · ${model.num_parameters.toLocaleString("en")} parameters` + (accuracy !== null ? ` · ${(100 * accuracy).toFixed(2)}% on the test set` : ""));

  const facts = [
    ["layers", arch],
    ["activation", model.activation === model.output_activation ? model.activation : `${model.activation}, output ${model.output_activation}`],
    ["parameters", model.num_parameters.toLocaleString("en")],
    ["test accuracy", accuracy !== null ? `${(100 * accuracy).toFixed(2)}%` : "not recorded"],
  ];
  if (model.dataset) facts.push(["trained on", model.dataset]);
  const t = model.training;
  if (t) {
    const parts = [t.optimizer, t.loss && `${t.loss} loss`, t.learning_rate !== undefined && `learning rate ${t.learning_rate}`,
      t.batch_size && `batches of ${t.batch_size}`, t.epochs && `${t.epochs} epochs`].filter(Boolean);
    facts.push(["training", parts.join(", ")]);
  }
  facts.push(["file", model.source]);
  const list = $("model-facts");
  list.replaceChildren();
  for (const [name, value] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  const body = $("params").tBodies[0];
  body.replaceChildren();
  for (const layer of model.layers) {
    const row = body.insertRow();
    [`${layer.layer}: ${layer.shape[1]}→${layer.shape[0]}`, layer.weights, layer.biases, layer.total].forEach((v) => {
      row.insertCell().textContent = typeof v === "number" ? v.toLocaleString("en") : v;
    });
  }
  const foot = $("params").createTFoot();
  foot.replaceChildren();
  const row = foot.insertRow();
  ["all", model.layers.reduce((s, l) => s + l.weights, 0), model.layers.reduce((s, l) => s + l.biases, 0), model.num_parameters]
    .forEach((v) => { row.insertCell().textContent = typeof v === "number" ? v.toLocaleString("en") : v; });

  const output = model.output_activation;
  $("bars-caption").textContent = output === "softmax"
    ? "Probabilities (softmax output)"
    : `Output neuron activations (${output}: each from 0 to 1)`;
}

// ------------------------------------------------------------------------------------ start

async function start() {
  redrawPad();
  try {
    state.model = await api("/api/model");
  } catch (error) {
    showStatus(`The server did not answer: ${error.message}`);
    return;
  }
  renderModel(state.model);
  buildBars(state.model.class_names);
  buildNetwork(state.model);
  render();
  loadSamples();
}

// Rebuild the network drawing when the window crosses between phone and wider layouts.
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (!state.model) return;
    const compact = net.svg.clientWidth > 0 && net.svg.clientWidth < 520;
    if (compact !== net.compact) {
      buildNetwork(state.model);
      if (state.selected && state.selected.info) renderStrongConnections(state.selected.info);
    }
  }, 150);
});

start();
