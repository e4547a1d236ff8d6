// The test-digit panel (#samples): a dozen MNIST test digits with the network's verdict, some it
// gets wrong (red border), fetched with GET /api/samples; "Others" fetches another dozen. Clicking
// one emits "digit" with its 28×28 pixels (the pad shows it). Listens to "model" (first load).
import { api } from "./api.js";
import { $, gridCanvas, grey } from "./dom.js";
import { emit, on, state } from "./state.js";

let sampleSeed = 0;

export function init() {
  on("model", loadSamples);
  $("more-samples").addEventListener("click", () => {
    sampleSeed += 1;
    loadSamples();
  });
}

async function loadSamples() {
  const grid = $("samples");
  const note = $("samples-note");
  let result;
  try {
    result = await api(`/api/samples?count=12&mistakes=4&seed=${sampleSeed}`);
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
    button.addEventListener("click", () => emit("digit", sample.pixels));
    return button;
  }));
}
