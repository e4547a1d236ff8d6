// The neuron panel (#neuron-panel): the selected neuron's picture (its weights as a 28×28 image
// for layer 0, or the input that excites it most), its activation, bias and incoming weights, and
// sliders that edit its bias and scale its weights. Edits live in state.edits as
// {layer, index, bias?, weight_scale?}, the shape POST /api/predict-edited takes.
//
// Asks GET {state.api}/neuron/{layer}/{index}?method=... (cached per network, neuron and method).
// Listens to "select" (show a neuron), "prediction" (its activation, edited and unedited) and
// "model" (another network: forget the selection); emits "selected" when the selection or its info
// changes and "edits" when an edit changes.
import { api } from "./api.js";
import { $, BLUE, RED, grey, paintGrid, showStatus } from "./dom.js";
import { emit, on, state } from "./state.js";

const key = (layer, index) => `${layer}:${index}`;
const infoCache = new Map();  // "L:J:method" -> promise of the /api/neuron answer

export function init() {
  on("select", ({ layer, index }) => selectNeuron(layer, index));
  on("prediction", renderNeuronFacts);
  on("model", () => {
    state.selected = null;
    $("neuron-body").hidden = true;
    $("neuron-empty").hidden = false;
    $("neuron-title").textContent = "A neuron";
    $("reset-all").disabled = state.edits.size === 0;
  });
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
    emit("edits");
  });
  $("reset-all").addEventListener("click", () => {
    state.edits.clear();
    if (state.selected && state.selected.info) {
      $("bias").value = state.selected.info.bias;
      $("scale").value = 1;
    }
    renderNeuronFacts();
    emit("edits");
  });
}

async function neuronInfo(layer, index, method) {
  const cacheKey = `${state.api}:${layer}:${index}:${method}`;
  if (!infoCache.has(cacheKey)) {
    infoCache.set(cacheKey, api(`${state.api}/neuron/${layer}/${index}?method=${method}`));
  }
  try {
    return await infoCache.get(cacheKey);
  } catch (error) {
    infoCache.delete(cacheKey);
    throw error;
  }
}

async function selectNeuron(layer, index) {
  state.selected = { layer, index };
  emit("selected");
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
  emit("selected");
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
  emit("edits");
}
