// The label progress section: a bar chart (SVG, titled with its numbers) and the figures behind it.
import { byId, element, percent, svgNode } from "./dom.js";
import { api } from "./session.js";

function renderChart(stats) {
  const bars = [
    { name: "Votes", value: stats.votes, colour: "#1f5fbf" },
    { name: "Labelled by the crowd", value: stats.glyphs_labelled_by_crowd, colour: "#2b7a3d" },
    { name: "Still unlabelled", value: stats.glyphs_unlabelled, colour: "#b35c00" },
    { name: "Ambiguous", value: stats.glyphs_ambiguous, colour: "#6b717b" }
  ];
  const chart = byId("progress-chart");
  const rowHeight = 46;
  const width = 480;
  const barSpace = width - 70;
  const largest = Math.max(1, ...bars.map((bar) => bar.value));
  const title = "Label progress: " + bars.map((bar) => bar.value + " " + bar.name.toLowerCase()).join(", ");
  chart.textContent = "";
  chart.setAttribute("viewBox", "0 0 " + width + " " + (bars.length * rowHeight + 4));
  chart.appendChild(svgNode("title", { id: "progress-chart-title" }, title));
  bars.forEach((bar, index) => {
    const top = index * rowHeight;
    const length = bar.value > 0 ? Math.max(2, (bar.value / largest) * barSpace) : 0;
    const group = svgNode("g", { "class": "bar", "data-name": bar.name, "data-value": bar.value });
    group.appendChild(svgNode("text", { x: 0, y: top + 16, "class": "bar-label" }, bar.name));
    group.appendChild(svgNode("rect", { x: 0, y: top + 22, width: barSpace, height: 18, rx: 2, "class": "bar-track" }));
    group.appendChild(svgNode("rect", { x: 0, y: top + 22, width: length.toFixed(1), height: 18, rx: 2, fill: bar.colour, "class": "bar-fill" }));
    group.appendChild(svgNode("text", { x: barSpace + 8, y: top + 36, "class": "bar-value" }, bar.value));
    chart.appendChild(group);
  });
}

function renderFigures(stats) {
  const list = byId("stats");
  list.textContent = "";
  [
    ["votes", "Votes", stats.votes],
    ["glyphs_labelled_by_crowd", "Glyphs labelled by the crowd", stats.glyphs_labelled_by_crowd],
    ["glyphs_unlabelled", "Glyphs still unlabelled", stats.glyphs_unlabelled],
    ["glyphs_ambiguous", "Glyphs marked ambiguous", stats.glyphs_ambiguous],
    ["challenges", "Challenges issued", stats.challenges],
    ["challenges_open", "Challenges open", stats.challenges_open],
    ["challenges_passed", "Passed", stats.challenges_passed],
    ["challenges_failed", "Failed", stats.challenges_failed],
    ["pass_rate", "Pass rate", percent(stats.pass_rate)]
  ].forEach(([stat, name, value]) => {
    const item = element("div");
    item.appendChild(element("dt", name));
    const figure = element("dd", value);
    figure.dataset.stat = stat;
    item.appendChild(figure);
    list.appendChild(item);
  });
}

// A status note under the chart: shown with its text, hidden and empty without.
function showNote(id, text) {
  const note = byId(id);
  note.hidden = !text;
  note.textContent = text;
}

// With nothing unlabelled or ambiguous, challenges are made of known glyphs only: say so, and how to go on.
function renderLabelStatus(stats) {
  showNote("label-status", stats.nothing_left_to_label
    ? "Nothing left to label: challenges show known glyphs only and collect no votes. " +
      "`drcaptcha remove-labels N` gives the crowd more."
    : "");
}

// Scored glyphs whose labels are public (EMNIST's) can be learnt by any network trained on them: say so.
function renderPoolStatus(stats) {
  showNote("pool-status", stats.labels_public === true
    ? `The scored glyphs come from a public data set: a network trained on it reads many of them (about a ` +
      `third of challenges passed, in our measurements). Challenges score ${stats.scored_glyphs} glyphs. ` +
      "Add your own handwriting with `drcaptcha add-private-glyphs FOLDER` (or import only your own with " +
      "`drcaptcha import-emnist --private`) to score 4 that no one can train on."
    : "");
}

export function loadStats() {
  return api("GET", "/admin/stats").then((stats) => {
    renderChart(stats);
    renderLabelStatus(stats);
    renderPoolStatus(stats);
    renderFigures(stats);
  });
}
