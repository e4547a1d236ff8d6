// The Learn view (#learn): watch the video's network learn, and backpropagation for one digit.
//
// Train from scratch, live: POST /api/learn {preset, epochs, learning_rate} answers with Server-Sent
// Events, read here with fetch (EventSource cannot POST). Each event repaints the 16 layer-0 weight
// pictures (int8, one scale per neuron), the cost curve, the accuracy on the fixed validation
// sample and a small network lit by a fixed probe digit. Pause, Resume, Step (one mini-batch) and
// Stop are POST /api/learn/{session}/{command}. "Use this network" (paused or done) asks
// POST /api/learn/{session}/network and points state.api at the answer, so the draw view runs the
// user's own network (theirs alone; the served model never changes); "back to the served model"
// undoes it. Leaving the page closes the stream, which stops the training on the server.
//
// Learn from this digit: with a digit on the pad (state.input) the user says which digit it is;
// POST {state.api}/backprop gives the output nudges, the wishes summed onto the hidden neurons and
// the weight change of a chosen layer-0 neuron; the step button asks POST {state.api}/backprop/step
// and shows how the outputs moved. Listens to "prediction"; emits "model" after switching networks.
import { api, postJSON } from "./api.js";
import { $, BLUE, RED, gridCanvas, grey, paintGrid, svg } from "./dom.js";
import { loadPixels, requestPrediction } from "./predict.js";
import { emit, on, state } from "./state.js";

const RATES = { "3b1b": 1, modern: 0.002 };  // each recipe's own learning rate
const run = { controller: null, session: null, phase: "idle", costs: [], accuracy: [], totalSteps: 1, tiles: [], probe: null, usable: false };
const lesson = { input: null, label: null, result: null, neuron: 0, steps: 0 };

export function init() {
  $("learn-preset").addEventListener("change", () => { $("learn-rate").value = RATES[$("learn-preset").value]; });
  $("learn-train").addEventListener("click", startTraining);
  for (const command of ["pause", "resume", "step", "stop"]) {
    $(`learn-${command}`).addEventListener("click", () => control(command));
  }
  $("learn-use").addEventListener("click", useNetwork);
  $("learn-served").addEventListener("click", () => switchTo("/api"));
  $("learn-served-top").addEventListener("click", () => switchTo("/api"));
  window.addEventListener("pagehide", () => run.controller && run.controller.abort());
  const labels = $("lesson-labels");
  for (let k = 0; k < 10; k++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = String(k);
    button.disabled = true;
    button.addEventListener("click", () => explain(k));
    labels.append(button);
  }
  $("lesson-step").addEventListener("click", takeStep);
  on("prediction", onInput);
  setPhase("idle");
}

// ------------------------------------------------------------------ training, live

function setPhase(phase) {
  run.phase = phase;
  $("learn").dataset.phase = phase;
  const active = phase === "running" || phase === "paused" || phase === "starting";
  $("learn-train").disabled = active;
  $("learn-pause").disabled = phase !== "running";
  $("learn-resume").disabled = phase !== "paused";
  $("learn-step").disabled = !(phase === "running" || phase === "paused");
  $("learn-stop").disabled = !active;
  $("learn-use").disabled = !((phase === "paused" || phase === "done") && run.usable);
  for (const id of ["learn-preset", "learn-rate", "learn-epochs"]) $(id).disabled = active;
}

function say(text) { $("learn-status").textContent = text; }

async function startTraining() {
  const body = { preset: $("learn-preset").value, epochs: Math.round(Number($("learn-epochs").value)) };
  const rate = Number($("learn-rate").value);
  if (rate > 0) body.learning_rate = rate;
  Object.assign(run, { session: null, costs: [], accuracy: [], usable: false, probe: null });
  setPhase("starting");
  say("Starting: loading 60,000 MNIST digits and a random network…");
  const controller = new AbortController();
  run.controller = controller;
  try {
    const response = await fetch("/api/learn", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: controller.signal,
    });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      say(`Could not start: ${detail}`);
      setPhase("idle");
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of block.split("\n")) if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)));
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") say(`The training stream broke off: ${error.message}`);
  } finally {
    if (run.controller === controller) run.controller = null;
    if (run.phase !== "done" && run.phase !== "idle") setPhase("done");
  }
}

function onEvent(event) {
  run.session = event.session;
  $("learn").dataset.session = event.session;
  if (event.event === "start") {
    run.totalSteps = event.steps_per_epoch * event.epochs;
    run.epochs = event.epochs;
    $("learn-sample").textContent = event.sample.toLocaleString("en");
    buildProbeNetwork(event.probe_pixels, event.probe.activations.map((a) => a.length));
  }
  if (event.weights) paintWeights(event.weights);
  if (typeof event.loss === "number" && event.event !== "epoch") run.costs.push([event.step, event.loss]);
  if (typeof event.accuracy === "number") run.accuracy.push([event.step, event.accuracy]);
  drawCurve();
  lightProbe(event.probe);
  $("learn").dataset.step = event.step;
  $("learn").dataset.accuracy = event.accuracy ?? "";
  if (["paused", "step", "done"].includes(event.event) && event.weights) run.usable = true;
  const phase = { start: "running", progress: "running", resumed: "running", epoch: "running", paused: "paused", step: "paused", done: "done" }[event.event];
  if (phase) setPhase(phase);
  say(describe(event));
}

function describe(event) {
  const percent = (v) => `${(100 * v).toFixed(1)}%`;
  const parts = [`epoch ${Math.max(event.epoch, 1)} of ${run.epochs}`, `step ${event.step.toLocaleString("en")}`];
  if (typeof event.loss === "number") parts.push(`cost ${event.loss.toFixed(4)}`);
  if (typeof event.accuracy === "number") parts.push(`accuracy ${percent(event.accuracy)}`);
  let text = parts.join(" · ");
  if (event.event === "paused" || event.event === "step") text = `Paused: ${text}. Step takes one mini-batch.`;
  if (event.done) {
    const reasons = { finished: "Done", stopped: "Stopped", "time limit": "Stopped at the time limit", disconnected: "Stopped", diverged: "Diverged", error: "Failed" };
    text = `${reasons[event.reason] || "Ended"}: ${text}`;
    if (typeof event.val_accuracy === "number") text += ` · ${percent(event.val_accuracy)} of all 10,000 validation digits`;
    if (typeof event.test_accuracy === "number") text += `, ${percent(event.test_accuracy)} of the test set`;
    if (event.message) text += `. ${event.message}`;
  }
  return text;
}

async function control(command) {
  if (!run.session) return;
  try {
    await postJSON(`/api/learn/${run.session}/${command}`, {});
  } catch (error) {
    say(`Could not ${command}: ${error.message}`);
  }
}

function decodePictures(encoded) {
  const bytes = atob(encoded.data);
  const q = new Int8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) q[i] = bytes.charCodeAt(i) << 24 >> 24;
  return q;
}

function paintWeights(encoded) {
  const [count, side] = encoded.shape;
  const grid = $("learn-weights");
  if (run.tiles.length !== count) {
    grid.replaceChildren();
    run.tiles = Array.from({ length: count }, (_, j) => {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = side;
      canvas.title = `layer 0, neuron ${j}`;
      grid.append(canvas);
      return canvas;
    });
  }
  const q = decodePictures(encoded);
  const size = side * side;
  run.tiles.forEach((canvas, j) => {
    const context = canvas.getContext("2d");
    const image = context.createImageData(side, side);
    for (let i = 0; i < size; i++) {
      const v = q[j * size + i];
      const t = Math.abs(v) / 127;
      const [r, g, b] = v >= 0 ? BLUE : RED;
      image.data.set([Math.round(r * t), Math.round(g * t), Math.round(b * t), 255], 4 * i);
    }
    context.putImageData(image, 0, 0);
  });
}

function drawCurve() {
  const canvas = $("learn-curve");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const left = 44, right = 44, top = 10, bottom = 24;
  context.clearRect(0, 0, width, height);
  context.font = "11px system-ui, sans-serif";
  context.strokeStyle = "#343b49";
  context.strokeRect(left, top, width - left - right, height - top - bottom);
  const x = (step) => left + (width - left - right) * Math.min(1, step / Math.max(1, run.totalSteps));
  const costs = run.costs.filter(([, c]) => c > 0);
  if (costs.length) {
    const logs = costs.map(([, c]) => Math.log10(c));
    const low = Math.floor(Math.min(...logs)), high = Math.ceil(Math.max(...logs) + 1e-9);
    const y = (c) => top + (height - top - bottom) * (high - Math.log10(c)) / Math.max(1e-9, high - low);
    context.fillStyle = "#f4d35e";
    for (let p = low; p <= high; p++) context.fillText(`${10 ** p >= 1 ? 10 ** p : (10 ** p).toPrecision(1)}`, 4, y(10 ** p) + 4);
    line(context, costs.map(([s, c]) => [x(s), y(c)]), "#f4d35e");
  }
  const y = (a) => top + (height - top - bottom) * (1 - a);
  context.fillStyle = "#58c4dd";
  for (const a of [0, 0.5, 1]) context.fillText(`${100 * a}%`, width - right + 6, y(a) + 4);
  line(context, run.accuracy.map(([s, a]) => [x(s), y(a)]), "#58c4dd");
  context.fillStyle = "#9aa2b1";
  context.fillText(`mini-batch steps (${run.epochs || "–"} epochs)`, left, height - 6);
}

function line(context, points, colour) {
  if (!points.length) return;
  context.strokeStyle = colour;
  context.lineWidth = 1.6;
  context.beginPath();
  points.forEach(([px, py], i) => (i ? context.lineTo(px, py) : context.moveTo(px, py)));
  context.stroke();
}

function buildProbeNetwork(pixels, sizes) {
  const net = $("learn-net");
  net.replaceChildren();
  net.setAttribute("viewBox", "0 0 380 230");
  const image = svg("image", { x: 4, y: 71, width: 88, height: 88, preserveAspectRatio: "none" }, net);
  image.setAttribute("href", gridCanvas(pixels, grey).toDataURL());
  const columns = sizes.map((count, L) => {
    const cx = 140 + L * 95;
    const step = Math.min(13, 210 / count);
    return Array.from({ length: count }, (_, j) => [cx, 115 + (j - (count - 1) / 2) * step, Math.min(5.2, step * 0.4)]);
  });
  const links = svg("g", { class: "links" }, net);
  columns.slice(1).forEach((column, L) => {
    for (const [x1, y1] of columns[L]) for (const [x2, y2] of column) svg("line", { x1, y1, x2, y2 }, links);
  });
  run.probe = { dots: columns.map((column) => column.map(([cx, cy, r]) => svg("circle", { cx, cy, r, class: "dot", fill: "#000" }, net))), labels: [] };
  run.probe.labels = columns[columns.length - 1].map(([cx, cy], k) => {
    const label = svg("text", { x: cx + 10, y: cy + 4, class: "out" }, net);
    label.textContent = String(k);
    return label;
  });
}

function lightProbe(probe) {
  if (!run.probe || !probe) return;
  probe.activations.forEach((values, L) => {
    const largest = Math.max(1, ...values.map((v) => Math.abs(v ?? 0)));  // ReLU layers: scaled by the largest
    values.forEach((v, j) => {
      const g = Math.round(255 * Math.min(1, Math.max(0, (v ?? 0) / largest)));
      run.probe.dots[L][j].setAttribute("fill", `rgb(${g},${g},${g})`);
    });
  });
  run.probe.labels.forEach((label, k) => label.classList.toggle("top", k === probe.digit));
}

// ------------------------------------------------------------------ which network the draw view runs

async function useNetwork() {
  try {
    const answer = await postJSON(`/api/learn/${run.session}/network`, {});
    await switchTo(answer.api);
  } catch (error) {
    say(`Could not use this network: ${error.message}`);
  }
}

async function switchTo(path) {
  let model;
  try {
    model = await api(`${path}/model`);
  } catch (error) {
    say(`Could not switch networks: ${error.message}`);
    return;
  }
  state.api = path;
  state.model = model;
  state.edits.clear();
  emit("model");
  const mine = path !== "/api";
  $("learn-banner").hidden = !mine;
  $("learn-served").hidden = !mine;
  resetLesson();
  if (state.inputFrom === "image" && state.strokes.length) requestPrediction(true);
  else if (state.input) loadPixels(state.input);
  else emit("prediction");
}

// ------------------------------------------------------------------ learn from this digit

function onInput() {
  for (const button of $("lesson-labels").children) button.disabled = !state.input;
  $("lesson-hint").textContent = state.input
    ? "Which digit is it really? The network is told, and backpropagation says how every weight should change:"
    : "Draw a digit (or load a test digit), then say which digit it really is:";
  if (lesson.input && state.input !== lesson.input) resetLesson();
}

function resetLesson() {
  Object.assign(lesson, { input: null, label: null, result: null, steps: 0 });
  $("lesson-body").hidden = true;
  for (const button of $("lesson-labels").children) button.classList.remove("chosen");
}

async function explain(label) {
  const input = state.input;
  if (!input) return;
  let result;
  try {
    result = await postJSON(`${state.api}/backprop`, { pixels: input, label });
  } catch (error) {
    $("lesson-hint").textContent = `Could not backpropagate: ${error.message}`;
    return;
  }
  if (state.input !== input) return;
  Object.assign(lesson, { input, label, result, steps: 0 });
  const zs = result.layers[0].bias_gradient.map(Math.abs);
  lesson.neuron = zs.indexOf(Math.max(...zs));
  Array.from($("lesson-labels").children).forEach((b, k) => b.classList.toggle("chosen", k === label));
  $("lesson-body").hidden = false;
  $("lesson-moved").hidden = $("lesson-moved-note").hidden = true;
  $("lesson-step").textContent = "Take one gradient step on this digit";
  const names = state.model.class_names;
  $("lesson-cost").textContent = `Cost of this digit as a ${names[label]}: C = ${result.cost.toPrecision(4)} (${result.loss}). Blue: should go up; red: should go down.`;
  const outputs = result.activations[result.activations.length - 1];
  divergingBars($("lesson-outputs"), result.output_nudges, names, outputs);
  renderHidden();
}

function divergingBars(list, values, names, levels = null, onPick = null, picked = -1) {
  const largest = Math.max(1e-12, ...values.map(Math.abs));
  list.replaceChildren(...values.map((v, k) => {
    const item = document.createElement("li");
    item.className = "nudge" + (k === picked ? " picked" : "") + (onPick ? " pickable" : "");
    item.innerHTML = '<span class="label"></span><span class="track"><span class="level"></span><span class="push"></span></span><span class="value"></span>';
    item.querySelector(".label").textContent = names[k];
    const push = item.querySelector(".push");
    push.style.width = `${(50 * Math.abs(v) / largest).toFixed(1)}%`;
    push.style.left = v >= 0 ? "50%" : `${(50 - 50 * Math.abs(v) / largest).toFixed(1)}%`;
    push.classList.add(v >= 0 ? "up" : "down");
    if (levels) item.querySelector(".level").style.width = `${(100 * Math.min(1, Math.max(0, levels[k]))).toFixed(1)}%`;
    item.querySelector(".value").textContent = short(v);
    if (onPick) item.addEventListener("click", () => onPick(k));
    return item;
  }));
}

function short(v) {
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(1) : v.toPrecision(2);
}

function renderHidden() {
  const box = $("lesson-hidden");
  box.replaceChildren();
  const layers = lesson.result.layers;
  for (let L = layers.length - 2; L >= 0; L--) {
    const title = document.createElement("h4");
    title.textContent = `Layer ${L}: the wishes of layer ${L + 1}, summed (−∂C/∂a)` + (L === 0 ? " · click a neuron" : "");
    const list = document.createElement("ol");
    list.className = "nudges compact";
    list.id = `lesson-layer-${L}`;
    const values = layers[L].activation_gradient.map((v) => -v);
    const names = values.map((_, j) => String(j));
    const pick = L === 0 ? (j) => { lesson.neuron = j; renderHidden(); } : null;
    divergingBars(list, values, names, lesson.result.activations[L], pick, L === 0 ? lesson.neuron : -1);
    box.append(title, list);
  }
  const j = lesson.neuron;
  const change = lesson.result.layers[0].weight_gradient[j].map((g) => -g);
  const side = Math.round(Math.sqrt(change.length));
  const largest = Math.max(1e-30, ...change.map(Math.abs));
  const grid = Array.from({ length: side }, (_, r) => change.slice(r * side, (r + 1) * side));
  paintGrid($("lesson-change"), grid, (v) => {
    const t = Math.abs(v) / largest;
    const [r, g, b] = v >= 0 ? BLUE : RED;
    return [Math.round(r * t), Math.round(g * t), Math.round(b * t), 255];
  });
  const dz = -lesson.result.layers[0].bias_gradient[j];
  $("lesson-change-note").textContent = `Layer 0, neuron ${j}: the change its 784 weights should make, −∂C/∂W = −∂C/∂z · x (largest ${largest.toPrecision(2)}). `
    + `It is this digit itself, times −∂C/∂z = ${dz.toPrecision(2)}` + (Math.abs(dz) < 1e-6 ? ": almost nothing, this neuron is saturated (σ′ ≈ 0)." : ".");
}

async function takeStep() {
  if (lesson.result === null) return;
  const steps = lesson.steps + 1;
  let moved;
  try {
    moved = await postJSON(`${state.api}/backprop/step`, { pixels: lesson.input, label: lesson.label, steps });
  } catch (error) {
    $("lesson-moved-note").hidden = false;
    $("lesson-moved-note").textContent = `Could not take the step: ${error.message}`;
    return;
  }
  lesson.steps = steps;
  const names = state.model.class_names;
  const list = $("lesson-moved");
  list.hidden = false;
  list.replaceChildren(...moved.output_after.map((after, k) => {
    const item = document.createElement("li");
    item.className = "bar edited" + (k === lesson.label ? " top" : "");
    item.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span><span class="ghost-mark"></span></span><span class="value"></span>';
    item.querySelector(".label").textContent = names[k];
    item.querySelector(".fill").style.width = `${(100 * Math.min(1, Math.max(0, after))).toFixed(1)}%`;
    item.querySelector(".ghost-mark").style.left = `calc(${(100 * Math.min(1, Math.max(0, moved.output_before[k]))).toFixed(1)}% - 1px)`;
    item.querySelector(".value").textContent = `${moved.output_before[k].toFixed(2)}→${after.toFixed(2)}`;
    return item;
  }));
  const note = $("lesson-moved-note");
  note.hidden = false;
  note.textContent = `After ${steps} step${steps > 1 ? "s" : ""} of W ← W − η∂C/∂W (η = ${moved.learning_rate}) on this digit alone, on a copy: cost ${moved.cost_before.toPrecision(4)} → ${moved.cost_after.toPrecision(4)}. The thin mark is where each output was.`;
  if (lesson.result.loss === "quadratic" && moved.cost_after > 0.95 * moved.cost_before) {
    note.textContent += " The quadratic cost learns slowly from a confident mistake: a saturated sigmoid has σ′ ≈ 0, so little of the nudge reaches the weights (cross-entropy, the modern recipe's cost, does not slow down).";
  }
  $("lesson-step").textContent = "Take one more step";
}
