// The whole-network view (#net, SVG): the 28×28 input, then every layer's neurons as circles lit by
// their activations in state.shown, faint connections as in the video, the output labels, rings on
// the selected and the edited neurons, and the selected neuron's strongest connections.
//
// A click (or Enter / Space on a focused neuron) emits "select" {layer, index}. Listens to "model"
// (lay the network out), "prediction" (light it), "edits" (rings) and "selected" (rings and
// strongest connections). Rebuilt when the window crosses between phone and wider layouts.
import { $, BLUE, RED, gridCanvas, grey, svg } from "./dom.js";
import { emit, on, state } from "./state.js";

const SHOWN_CONNECTIONS = 14; // strongest connections drawn for a selected hidden neuron
const SHOWN_PIXELS = 40;      // strongest pixel connections drawn for a layer-0 neuron

const net = { svg: null, layers: [], gridImage: null, grid: null, strong: null, rings: null, labels: [] };
let resizeTimer = null;

export function init() {
  net.svg = $("net");
  on("model", () => buildNetwork(state.model));
  on("prediction", renderNetwork);
  on("edits", renderRings);
  on("selected", () => {
    renderRings();
    if (state.selected && state.selected.info) renderStrongConnections(state.selected.info);
  });
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
  const select = (target) => emit("select", { layer: Number(target.dataset.layer), index: Number(target.dataset.index) });
  hits.addEventListener("click", (event) => {
    const target = event.target.closest(".hit");
    if (target) select(target);
  });
  hits.addEventListener("keydown", (event) => {
    const target = event.target.closest(".hit");
    if (target && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(target);
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
  const read = (shown && shown.seen) || state.input;  // what the network read (deskewed if the model asks)
  if (read) {
    net.gridImage.setAttribute("href", gridCanvas(read, grey).toDataURL());
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
  if (!net.rings) return;  // not built yet: the model has not arrived
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
