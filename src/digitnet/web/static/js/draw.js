// The drawing pad (#pad, 280×280) and "what the network sees" (#seen, the 28×28 input).
//
// Mouse, pen or one finger draws strokes into state.strokes and asks predict.js for a prediction
// while drawing (throttled) and at the end of each stroke; Undo and Clear edit the strokes. The pad
// has `touch-action: none` (style.css) and pointerdown calls preventDefault, so on phones a stroke
// is never taken for a scroll. Listens to "digit" (a test digit put on the pad as it is) and
// "prediction" (repaint #seen and explain how the input was made).
import { $, gridCanvas, grey, inkAlpha, paintGrid } from "./dom.js";
import { clearPrediction, discardPending, loadPixels, requestPrediction } from "./predict.js";
import { on, state } from "./state.js";

const BRUSH = 20;  // brush diameter in pad pixels (the pad is 280×280)
const SEEN_DEFAULT = "Your drawing as MNIST digits were made: cropped to the ink, the longer side scaled to 20 pixels, centred by its centre of mass in 28×28. These 784 brightnesses are the input.";

let pad = null;
let padContext = null;
let activeStroke = null;

export function init() {
  pad = $("pad");
  padContext = pad.getContext("2d");
  pad.addEventListener("pointerdown", startStroke);
  pad.addEventListener("pointermove", extendStroke);
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);
  $("undo").addEventListener("click", () => {
    state.strokes.pop();
    redrawPad();
    afterPadChange();
  });
  $("clear").addEventListener("click", () => {
    state.strokes = [];
    redrawPad();
    afterPadChange();
  });
  on("digit", showDigit);
  on("prediction", renderSeen);
  redrawPad();
}

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * pad.width / rect.width, (event.clientY - rect.top) * pad.height / rect.height];
}

function paintStroke(points) {
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  padContext.lineWidth = BRUSH;
  padContext.strokeStyle = "#fff";
  padContext.fillStyle = "#fff";
  if (points.length === 1) {
    padContext.beginPath();
    padContext.arc(points[0][0], points[0][1], BRUSH / 2, 0, 2 * Math.PI);
    padContext.fill();
    return;
  }
  padContext.beginPath();
  padContext.moveTo(points[0][0], points[0][1]);
  for (const [x, y] of points.slice(1)) padContext.lineTo(x, y);
  padContext.stroke();
}

function redrawPad() {
  padContext.clearRect(0, 0, pad.width, pad.height);
  for (const stroke of state.strokes) {
    if (stroke.pixels) {
      padContext.imageSmoothingEnabled = true;
      padContext.imageSmoothingQuality = "high";
      padContext.drawImage(gridCanvas(stroke.pixels, inkAlpha), 0, 0, pad.width, pad.height);
    } else {
      paintStroke(stroke.points);
    }
  }
  const empty = state.strokes.length === 0;
  $("pad-hint").hidden = !empty;
  $("undo").disabled = empty;
  $("clear").disabled = empty;
}

function startStroke(event) {
  if (activeStroke || (event.button !== undefined && event.button > 0)) return;  // one finger draws
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  activeStroke = { points: [padPoint(event)], pointerId: event.pointerId };
  state.strokes.push(activeStroke);
  redrawPad();
  requestPrediction();
}

function extendStroke(event) {
  if (!activeStroke || event.pointerId !== activeStroke.pointerId) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  const last = activeStroke.points[activeStroke.points.length - 1];
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  padContext.lineWidth = BRUSH;
  padContext.strokeStyle = "#fff";
  padContext.beginPath();
  padContext.moveTo(last[0], last[1]);
  for (const e of events.length ? events : [event]) {
    const point = padPoint(e);
    activeStroke.points.push(point);
    padContext.lineTo(point[0], point[1]);
  }
  padContext.stroke();
  requestPrediction();
}

function endStroke(event) {
  if (!activeStroke || event.pointerId !== activeStroke.pointerId) return;
  activeStroke = null;
  requestPrediction(true);
}

function afterPadChange() {
  if (state.strokes.length === 0) {
    clearPrediction();
  } else if (state.strokes.length === 1 && state.strokes[0].pixels) {
    loadPixels(state.strokes[0].pixels);
  } else {
    requestPrediction(true);
  }
}

function showDigit(pixels) {
  discardPending();
  state.strokes = [{ pixels }];
  redrawPad();
  loadPixels(pixels);
  if (window.matchMedia("(max-width: 720px)").matches) pad.scrollIntoView({ behavior: "smooth", block: "start" });
}

function renderSeen() {
  const seen = $("seen");
  const read = (state.base && state.base.seen) || state.input;  // after the model's own steps (deskew)
  if (read) paintGrid(seen, read, grey);
  else seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  let note = SEEN_DEFAULT;
  if (state.input && state.inputFrom === "pixels") {
    note = "A digit from the MNIST test set, exactly as stored. These 784 brightnesses are the input.";
  } else if (state.input && state.base && state.base.preprocessing) {
    const info = state.base.preprocessing;
    const [left, top, right, bottom] = info.bounding_box;
    note = `Your ${right - left}×${bottom - top} pixel drawing, cropped, scaled ×${info.scale.toFixed(2)} so its longer side is 20 pixels, and centred by its centre of mass in 28×28, as MNIST digits were made. These 784 brightnesses are the input.`;
  }
  if (state.input && state.model && state.model.training && state.model.training.deskew) {
    note += " This model was trained on deskewed digits, so the input is then sheared upright about its centre of mass, as shown.";
  }
  $("seen-note").textContent = note;
}
