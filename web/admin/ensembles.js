// The ensembles section: the table with its actions, and the form that creates an ensemble or edits one.
import { byId, cell, element, percent, say } from "./dom.js";
import { api, failed } from "./session.js";
import { networkName, state } from "./state.js";

function weightsText(weights) {
  // Heaviest member first, so the one that counts most reads first.
  const ids = Object.keys(weights).sort((a, b) =>
    weights[b] - weights[a] || networkName(a).localeCompare(networkName(b)));
  return ids.map((networkId) => networkName(networkId) + " " + weights[networkId].toFixed(2)).join(" · ");
}

function actionButton(text, label, onClick) {
  const button = element("button", text, "button secondary small");
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

function renderEnsembles() {
  const body = byId("ensembles-table").tBodies[0];
  body.textContent = "";
  byId("ensembles-empty").hidden = state.ensembles.length > 0;
  byId("ensembles-table").parentNode.hidden = state.ensembles.length === 0;
  state.ensembles.forEach((ensemble) => {
    const active = ensemble.ensemble_id === state.activeId;
    const row = document.createElement("tr");
    row.dataset.ensembleId = ensemble.ensemble_id;
    if (active) {
      row.className = "active";
    }
    const name = element("th", ensemble.name + " ");
    name.scope = "row";
    name.appendChild(element("code", ensemble.ensemble_id, "small-id"));
    row.appendChild(name);
    cell(row, percent(ensemble.accuracy), "number ensemble-accuracy");
    cell(row, weightsText(ensemble.weights), "ensemble-weights");
    cell(row, ensemble.version, "number ensemble-version");
    const status = cell(row, "", "ensemble-status");
    status.appendChild(active ? element("strong", "Active", "badge") : element("span", ensemble.status));
    const actions = cell(row, "", "actions");
    actions.appendChild(actionButton("Edit", "Edit the weights of " + ensemble.name, () => startEditing(ensemble)));
    if (!active) {
      actions.appendChild(actionButton("Activate", "Activate " + ensemble.name, () => activate(ensemble)));
      actions.appendChild(actionButton("Delete", "Delete " + ensemble.name, () => remove(ensemble)));
    }
    body.appendChild(row);
  });
}

/** The editor's rows: one per network, with a checkbox and a weight (the edited ensemble's, or 1). */
export function renderMembers() {
  const box = byId("ensemble-members");
  box.textContent = "";
  if (!state.networks.length) {
    box.appendChild(element("p", "Train a network first: an ensemble needs at least one.", "note"));
    return;
  }
  const weights = state.editing ? state.editing.weights : {};
  state.networks.forEach((network, index) => {
    const row = element("div", null, "member");
    const pick = element("input");
    pick.type = "checkbox";
    pick.id = "member-use-" + index;
    pick.dataset.networkId = network.network_id;
    pick.checked = state.editing ? network.network_id in weights : true;
    const pickLabel = element("label", network.name + " ");
    pickLabel.htmlFor = pick.id;
    pickLabel.appendChild(element("code", network.network_id));
    const weight = element("input");
    weight.type = "number";
    weight.id = "member-weight-" + index;
    weight.min = "0";
    weight.step = "any";
    weight.inputMode = "decimal";
    weight.value = network.network_id in weights ? String(weights[network.network_id]) : "1";
    const weightLabel = element("label", "Weight");
    weightLabel.htmlFor = weight.id;
    weightLabel.className = "weight";
    weight.setAttribute("aria-label", "Weight of " + network.name + " " + network.network_id);
    weightLabel.appendChild(weight);
    row.appendChild(pick);
    row.appendChild(pickLabel);
    row.appendChild(weightLabel);
    box.appendChild(row);
  });
}

function chosenMembers() {
  const members = [];
  let problem = null;
  state.networks.forEach((network, index) => {
    if (!byId("member-use-" + index).checked) {
      return;
    }
    const text = byId("member-weight-" + index).value.trim();
    const weight = Number(text);
    if (text === "" || !isFinite(weight) || weight < 0) {
      problem = problem || "The weight of " + network.name + " must be a number of 0 or more.";
    }
    members.push({ network_id: network.network_id, weight });
  });
  if (!problem && !members.length) {
    problem = "Pick at least one network.";
  }
  if (!problem && !members.some((member) => member.weight > 0)) {
    problem = "At least one weight must be above 0.";
  }
  return { members, problem };
}

function startEditing(ensemble) {
  state.editing = ensemble;
  byId("ensemble-form-title").textContent = "Edit " + ensemble.name;
  byId("ensemble-name").value = ensemble.name;
  byId("ensemble-submit").textContent = "Save and re-evaluate";
  byId("ensemble-cancel").hidden = false;
  say(byId("ensemble-result"), "Editing " + ensemble.name + " (version " + ensemble.version + ").");
  renderMembers();
  byId("ensemble-name").focus();
}

export function stopEditing() {
  state.editing = null;
  byId("ensemble-form-title").textContent = "New ensemble";
  byId("ensemble-name").value = "";
  byId("ensemble-submit").textContent = "Evaluate and create";
  byId("ensemble-cancel").hidden = true;
  renderMembers();
}

export function submitEnsemble(event) {
  event.preventDefault();
  const result = byId("ensemble-result");
  const name = byId("ensemble-name").value.trim();
  const chosen = chosenMembers();
  if (!name) {
    say(result, "Give the ensemble a name.", "error");
    byId("ensemble-name").focus();
    return;
  }
  if (chosen.problem) {
    say(result, chosen.problem, "error");
    return;
  }
  const editing = state.editing;
  const request = editing
    ? api("PATCH", "/admin/ensembles/" + encodeURIComponent(editing.ensemble_id), { name, members: chosen.members })
    : api("POST", "/admin/ensembles", { name, members: chosen.members });
  const submit = byId("ensemble-submit");
  submit.disabled = true;
  say(result, "Evaluating on the test split…");
  request
    .then((detail) => {
      stopEditing();
      say(result, "“" + detail.name + "”, version " + detail.version + ": accuracy " + percent(detail.accuracy) +
        (detail.test_size ? " on " + detail.test_size + " test glyphs" : "") + ". Normalised weights: " +
        weightsText(detail.weights) + ".", "success");
      return loadEnsembles();
    })
    .catch((error) => failed(error, result, editing ? "The ensemble was not saved" : "The ensemble was not created"))
    .then(() => { submit.disabled = false; });
}

function activate(ensemble) {
  const result = byId("ensemble-result");
  say(result, "Activating " + ensemble.name + "…");
  api("POST", "/admin/ensembles/" + encodeURIComponent(ensemble.ensemble_id) + "/activate")
    .then(() => {
      say(result, ensemble.name + " is now the active ensemble.", "success");
      return loadEnsembles();
    })
    .catch((error) => failed(error, result, ensemble.name + " was not activated"));
}

function remove(ensemble) {
  if (!window.confirm("Delete the ensemble " + ensemble.name + "?")) {
    return;
  }
  const result = byId("ensemble-result");
  api("DELETE", "/admin/ensembles/" + encodeURIComponent(ensemble.ensemble_id))
    .then(() => {
      if (state.editing && state.editing.ensemble_id === ensemble.ensemble_id) {
        stopEditing();
      }
      say(result, ensemble.name + " was deleted.", "success");
      return loadEnsembles();
    })
    .catch((error) => failed(error, result, ensemble.name + " was not deleted"));
}

export function loadEnsembles() {
  return api("GET", "/admin/ensembles").then((list) => {
    state.ensembles = list.ensembles;
    state.activeId = list.active_id;
    renderEnsembles();
  });
}
