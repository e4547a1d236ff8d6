// The answer panel: the network's digit (#answer) and one bar per output neuron (#bars), showing
// the output activations or softmax probabilities of state.shown. With neuron edits, a thin mark on
// each bar shows the unedited network (state.base). No prediction (an empty pad, or one with no
// digit on it: state.noDigit) reads "draw a digit"; an answer below the model's unsure threshold
// is marked unsure (#answer-note). Listens to "model" (build the bars, caption them) and
// "prediction" (fill them).
import { $ } from "./dom.js";
import { on, state } from "./state.js";

export function init() {
  on("model", buildBars);
  on("prediction", renderBars);
}

function buildBars() {
  const list = $("bars");
  list.replaceChildren();
  state.model.class_names.forEach((name) => {
    const item = document.createElement("li");
    item.className = "bar";
    item.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span><span class="ghost-mark"></span></span><span class="value">–</span>';
    item.querySelector(".label").textContent = name;
    list.append(item);
  });
  const output = state.model.output_activation;
  $("bars-caption").textContent = output === "softmax"
    ? "Probabilities (softmax output)"
    : `Output neuron activations (${output}: each from 0 to 1)`;
  renderBars();
}

function renderBars() {
  const shown = state.shown;
  const edited = Boolean(shown && state.edits.size && state.base);
  const answer = $("answer");
  answer.textContent = shown ? shown.label : "draw a digit";
  answer.classList.toggle("edited", edited);
  answer.classList.toggle("waiting", !shown);
  answer.classList.toggle("unsure", Boolean(shown && shown.unsure));
  const note = $("answer-note");
  note.textContent = !shown
    ? (state.noDigit ? `No digit here: ${state.noDigit}.` : "")
    : (shown.unsure ? `Unsure: only ${(100 * shown.confidence).toFixed(0)}% confident, below this model's threshold (chosen on validation digits).` : "");
  note.hidden = note.textContent === "";
  $("edit-note").hidden = !edited;
  if (!state.model) return;
  Array.from($("bars").children).forEach((item, k) => {
    const value = shown ? shown.outputs[k] : 0;
    item.querySelector(".fill").style.width = `${(100 * Math.min(1, Math.max(0, value))).toFixed(1)}%`;
    item.querySelector(".value").textContent = shown ? value.toFixed(2) : "–";
    item.classList.toggle("top", Boolean(shown) && k === shown.digit);
    item.classList.toggle("edited", edited);
    if (edited) item.querySelector(".ghost-mark").style.left = `calc(${(100 * Math.min(1, Math.max(0, state.base.outputs[k]))).toFixed(1)}% - 1px)`;
  });
}
