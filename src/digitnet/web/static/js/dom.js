// Small DOM helpers shared by the views: $ by id, SVG elements, the status line, and 28×28 grids
// of numbers painted on canvases (the input, test digits, neuron pictures). Knows no state.

const SVG_NS = "http://www.w3.org/2000/svg";
export const BLUE = [88, 196, 221];  // positive weights
export const RED = [252, 98, 85];    // negative weights

export const $ = (id) => document.getElementById(id);

export function svg(tag, attributes = {}, parent = null) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (parent) parent.append(element);
  return element;
}

export function showStatus(message) {
  const status = $("status");
  status.textContent = message || "";
  status.hidden = !message;
}

export function gridCanvas(grid, colour) {
  // A 28×28 canvas of grid values; colour(v) -> [r, g, b, a].
  const side = grid.length;
  const canvas = document.createElement("canvas");
  canvas.width = side;
  canvas.height = side;
  paintGrid(canvas, grid, colour);
  return canvas;
}

export function paintGrid(canvas, grid, colour) {
  const side = grid.length;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      const [red, green, blue, alpha] = colour(grid[r][c]);
      const k = 4 * (r * side + c);
      image.data[k] = red; image.data[k + 1] = green; image.data[k + 2] = blue; image.data[k + 3] = alpha;
    }
  }
  context.putImageData(image, 0, 0);
}

export const inkAlpha = (v) => [255, 255, 255, Math.round(255 * Math.min(1, Math.max(0, v)))];
export const grey = (v) => { const g = Math.round(255 * Math.min(1, Math.max(0, v))); return [g, g, g, 255]; };
