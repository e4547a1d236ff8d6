// digitnet web app: draw a digit and watch the network think. Loaded by index.html as
// <script type="module">; no build step, no CDN.
//
// Every number shown comes from the server (digitnet's library): preprocessing, activations,
// neuron pictures, edited predictions. The modules only draw them. Each view is one module with an
// init() that finds its elements and subscribes to the events of state.js; this file calls them in
// order (the order their handlers run in), then loads the model. A new view (like the Learn view,
// learn.js) is one import and one init() call here.
import { api } from "./api.js";
import * as answer from "./answer.js";
import { showStatus } from "./dom.js";
import * as draw from "./draw.js";
import * as learn from "./learn.js";
import * as model from "./model.js";
import * as network from "./network.js";
import * as neuron from "./neuron.js";
import * as predict from "./predict.js";
import * as samples from "./samples.js";
import { emit, state } from "./state.js";

// Order matters where views answer the same event: on "edits", the network's rings are redrawn
// before predict.js sends the edited prediction; on "prediction", bars, input, network, neuron.
for (const view of [model, answer, draw, network, neuron, samples, predict, learn]) view.init();

async function start() {
  try {
    state.model = await api(`${state.api}/model`);
  } catch (error) {
    showStatus(`The server did not answer: ${error.message}`);
    return;
  }
  emit("model");
  emit("prediction");
}

start();
