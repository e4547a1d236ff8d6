// The page's shared state and the tiny event interface the views talk through.
//
// Views never import each other. A view changes `state`, then emit()s an event; every view that
// cares has subscribed with on(). Handlers run synchronously, in the order they subscribed (main.js
// sets that order by calling each view's init()). A new view (like the Learn view, learn.js) is one
// new module that reads `state`, listens and emits, plus one init() call in main.js.
//
// Events:
//   "model"       state.model was loaded (the served model, or after "use this network" one
//                 trained on the page): views build themselves for its layers and class names
//   "prediction"  state.input / state.base / state.shown changed: views redraw their numbers
//   "edits"       state.edits changed (neuron panel): rings, facts and an edited prediction follow
//   "select"      {layer, index}: show this neuron (asked by a click in the network view)
//   "selected"    state.selected or its .info changed: rings and strongest connections follow
//   "digit"       pixels (28×28): put this digit on the pad as it is (asked by the test-digit panel)
//
// Layers are numbered from 0: layer L's neurons are the outputs of net.layers[L]; the input is the
// 28×28 grid.

export const state = {
  api: "/api",          // where the network the draw view runs answers: /api (the served model) or
                        // /api/nets/{id} (one the user trained on the page: theirs alone)
  model: null,          // the {api}/model answer
  strokes: [],          // each {points: [[x, y], ...]} or {pixels: 28×28} (a loaded test digit)
  input: null,          // the 28×28 the network received for what is on the pad
  inputFrom: null,      // "image" (server preprocessed the pad) or "pixels" (a test digit as is)
  base: null,           // prediction of the unedited network for input
  noDigit: null,        // why the pad holds no digit ("no ink found", ...), or null
  shown: null,          // prediction shown: edited if there are edits
  edits: new Map(),     // "L:J" -> {layer, index, bias?, weight_scale?}
  selected: null,       // {layer, index, info?}: info is the /api/neuron answer once it is loaded
};

const handlers = new Map();  // event name -> [handler, ...]

export function on(event, handler) {
  if (!handlers.has(event)) handlers.set(event, []);
  handlers.get(event).push(handler);
}

export function emit(event, detail) {
  for (const handler of handlers.get(event) || []) handler(detail);
}
