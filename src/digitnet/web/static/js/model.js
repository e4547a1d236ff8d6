// The model panel (#model-facts, #params) and the chip in the masthead (#model-chip): the
// architecture, activations, parameter counts per layer, test accuracy, how it was trained and
// which file it came from, all from GET /api/model. Listens to "model".
import { $ } from "./dom.js";
import { on, state } from "./state.js";

export function init() {
  on("model", () => renderModel(state.model));
}

const count = (v) => typeof v === "number" ? v.toLocaleString("en") : v;

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
      row.insertCell().textContent = count(v);
    });
  }
  const foot = $("params").createTFoot();
  foot.replaceChildren();
  const row = foot.insertRow();
  ["all", model.layers.reduce((s, l) => s + l.weights, 0), model.layers.reduce((s, l) => s + l.biases, 0), model.num_parameters]
    .forEach((v) => { row.insertCell().textContent = count(v); });
}
