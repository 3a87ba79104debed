// The networks section: the table, and each network's card with the plots its training job wrote.
import { byId, cell, count, element, percent, when } from "./dom.js";
import { renderMembers } from "./ensembles.js";
import { api } from "./session.js";
import { state } from "./state.js";

// How each plot the training job writes is captioned, in the order they are shown; others follow by name.
const PLOT_TITLES = {
  "curves.png": "Accuracy and loss curves",
  "confusion.png": "Confusion matrix",
  "architecture.png": "Architecture"
};
const PLOT_ORDER = ["curves.png", "confusion.png", "architecture.png"];

function plotNames(plots) {
  const names = Object.keys(plots || {});
  const known = PLOT_ORDER.filter((name) => names.includes(name));
  const others = names.filter((name) => !PLOT_ORDER.includes(name)).sort();
  return known.concat(others);
}

function plotFigure(network, file) {
  const title = PLOT_TITLES[file] || file.replace(/\.png$/, "");
  const figure = element("figure", null, "plot");
  const link = element("a");
  link.href = network.plots[file];
  link.target = "_blank";
  link.rel = "noopener";
  link.setAttribute("aria-label", title + " of " + network.name + " (opens full size)");
  const image = element("img");
  image.src = network.plots[file];
  image.alt = title + " of " + network.name + " " + network.network_id;
  image.dataset.plot = file;
  link.appendChild(image);
  figure.appendChild(link);
  figure.appendChild(element("figcaption", title));
  return figure;
}

function networkCard(network) {
  const card = element("section", null, "network-card");
  const heading = element("h3", network.name + " ");
  heading.appendChild(element("code", network.network_id));
  card.appendChild(heading);
  card.appendChild(element("p", "Accuracy " + percent(network.accuracy) + " on " + network.test_size +
    " test glyphs, " + count(network.epochs, "epoch") + ", trained on " + network.train_size + " glyphs" +
    (network.device ? " (" + network.device + ")" : "") + ".", "network-facts"));
  const gallery = element("div", null, "plots");
  plotNames(network.plots).forEach((file) => gallery.appendChild(plotFigure(network, file)));
  if (!gallery.childNodes.length) {
    gallery.appendChild(element("p", "This network has no plots.", "note"));
  }
  card.appendChild(gallery);
  return card;
}

function renderNetworks() {
  const body = byId("networks-table").tBodies[0];
  const plots = byId("network-plots");
  body.textContent = "";
  plots.textContent = "";
  byId("networks-empty").hidden = state.networks.length > 0;
  state.networks.forEach((network) => {
    const row = document.createElement("tr");
    const name = element("th", network.name);
    name.scope = "row";
    row.appendChild(name);
    cell(row, "").appendChild(element("code", network.network_id));
    cell(row, percent(network.accuracy), "number");
    cell(row, network.epochs, "number");
    cell(row, when(network.created_at));
    body.appendChild(row);
    plots.appendChild(networkCard(network));
  });
  // The ensemble editor offers every network as a member.
  renderMembers();
}

export function loadNetworks() {
  return api("GET", "/admin/networks").then((list) => {
    state.networks = list.networks;
    renderNetworks();
  });
}
