// The answer panel: the network's digit (#answer) and one bar per output neuron (#bars), showing
// the output activations or softmax probabilities of state.shown. With neuron edits, a thin mark on
// each bar shows the unedited network (state.base). Listens to "model" (build the bars, caption
// them) and "prediction" (fill them).
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
