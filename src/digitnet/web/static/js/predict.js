// The prediction request chain: what is on the pad, or a test digit, or the neuron edits, turned
// into state.input / state.base / state.shown, then emit("prediction").
//
// One request chain at a time. Drawing marks the pad dirty; edits mark the edits dirty. The pump
// sends the pad (as a PNG, preprocessed by the server: POST /api/predict-image) at most every
// THROTTLE_MS, and immediately at the end of a stroke; a test digit goes as pixels
// (POST /api/predict); edited predictions reuse the 28×28 input (POST /api/predict-edited). All go to
// state.api: /api, or /api/nets/{id} while the user runs a network they trained (learn.js).
// Listens to "edits". Results of requests sent before discardPending() are dropped. While a change
// waits for its answer, #pad has data-predicting="yes".
import { api, postJSON } from "./api.js";
import { $, showStatus } from "./dom.js";
import { emit, on, state } from "./state.js";

const THROTTLE_MS = 100;  // at most one prediction request per 100 ms while drawing

const work = { padDirty: false, pixelsDirty: false, editsDirty: false, busy: false, urgent: false, lastSent: 0, timer: null, generation: 0 };

export function init() {
  on("edits", requestEdited);
  settle();
}

export function requestPrediction(urgent = false) {
  work.padDirty = true;
  work.pixelsDirty = false;
  work.urgent = work.urgent || urgent;
  pump();
}

function requestEdited() {
  work.editsDirty = true;
  pump();
}

export function loadPixels(pixels) {
  state.input = pixels;
  state.inputFrom = "pixels";
  work.padDirty = false;
  work.pixelsDirty = true;
  pump();
}

export function discardPending() {
  work.generation += 1;
}

export function clearPrediction(forget = true) {
  if (forget) discardPending();
  work.padDirty = work.pixelsDirty = work.editsDirty = false;
  state.input = state.base = state.shown = null;
  state.noDigit = null;
  settle();
  emit("prediction");
}

// A blank pad or a speck is no digit (digit null and a note): the page says "draw a digit".
function showNoDigit(result) {
  state.noDigit = result.digit === null ? result.note : null;
  if (state.noDigit === null) return false;
  state.base = state.shown = null;
  work.editsDirty = false;
  showStatus("");
  emit("prediction");
  return true;
}

function pump() {
  step();
  settle();
}

// #pad's data-predicting is "no" once every change has been answered and shown (what tests wait for).
function settle() {
  const waiting = work.busy || work.timer || work.padDirty || work.pixelsDirty || work.editsDirty;
  $("pad").dataset.predicting = waiting ? "yes" : "no";
}

function step() {
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
  // The drawing pad (draw.js) as the user sees it.
  return new Promise((resolve) => $("pad").toBlob(resolve, "image/png"));
}

async function run() {
  work.busy = true;
  settle();
  const generation = work.generation;
  try {
    if (work.padDirty) {
      work.padDirty = false;
      work.urgent = false;
      work.lastSent = performance.now();
      if (state.strokes.length === 0) return;
      const form = new FormData();
      form.append("file", await padBlob(), "pad.png");
      const result = await api(`${state.api}/predict-image`, { method: "POST", body: form });
      if (generation !== work.generation) return;
      state.input = result.input;
      state.inputFrom = "image";
      if (showNoDigit(result)) return;
      state.base = result;
      work.editsDirty = true;
    } else if (work.pixelsDirty) {
      work.pixelsDirty = false;
      const result = await postJSON(`${state.api}/predict`, { pixels: state.input });
      if (generation !== work.generation) return;
      if (showNoDigit(result)) return;
      state.base = result;
      work.editsDirty = true;
    }
    if (work.editsDirty) {
      work.editsDirty = false;
      if (state.input && state.edits.size) {
        const edited = await postJSON(`${state.api}/predict-edited`, { pixels: state.input, edits: Array.from(state.edits.values()) });
        if (generation !== work.generation) return;
        state.shown = edited;
      } else {
        state.shown = state.base;
      }
    }
    showStatus("");
    emit("prediction");
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
