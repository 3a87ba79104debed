/*
 * The admin dashboard: plain DOM on top of the admin API (functions/admin/app.py). Every request carries
 * `Authorization: Bearer <admin key>`; the key lives in sessionStorage, so it goes when the tab closes.
 * Nothing from the API is written as HTML: names and ids are set as text.
 */
(function () {
  "use strict";
  var KEY_STORAGE = "drcaptcha-admin-key";
  var SVG = "http://www.w3.org/2000/svg";
  // How each plot the training job writes is captioned, in the order they are shown; others follow by name.
  var PLOT_TITLES = {
    "curves.png": "Accuracy and loss curves",
    "confusion.png": "Confusion matrix",
    "architecture.png": "Architecture"
  };
  var PLOT_ORDER = ["curves.png", "confusion.png", "architecture.png"];

  var state = { networks: [], ensembles: [], activeId: null, editing: null };
  // Where sessionStorage is refused (a private mode), the key lasts as long as this page.
  var memoryKey = null;

  function byId(id) {
    return document.getElementById(id);
  }

  // --- the key ----------------------------------------------------------------------------------------------
  function storedKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE);
    } catch (error) {
      return null;
    }
  }

  function storeKey(key) {
    try {
      if (key === null) {
        window.sessionStorage.removeItem(KEY_STORAGE);
      } else {
        window.sessionStorage.setItem(KEY_STORAGE, key);
      }
    } catch (error) {
      // Storage refused: memoryKey below still holds it.
    }
    memoryKey = key;
  }

  function currentKey() {
    return storedKey() || memoryKey;
  }

  // --- the API ----------------------------------------------------------------------------------------------
  function errorMessage(body, status) {
    if (body && body.error && body.error.message) {
      return body.error.message;
    }
    if (body && typeof body.detail === "string") {
      return body.detail;
    }
    return "the service answered " + status;
  }

  function api(method, path, body) {
    var init = { method: method, headers: { Authorization: "Bearer " + currentKey() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return window.fetch(path, init).then(
      function (reply) {
        return reply.json().catch(function () { return null; }).then(function (data) {
          if (!reply.ok) {
            var error = new Error(errorMessage(data, reply.status));
            error.status = reply.status;
            throw error;
          }
          return data;
        });
      },
      function () {
        var error = new Error("the admin API cannot be reached");
        error.status = 0;
        throw error;
      }
    );
  }

  function isAuthError(error) {
    return error.status === 401 || error.status === 403;
  }

  // --- formatting -------------------------------------------------------------------------------------------
  function percent(value) {
    return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%";
  }

  function when(seconds) {
    if (seconds === null || seconds === undefined) {
      return "–";
    }
    return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function count(number, noun) {
    return number + " " + noun + (number === 1 ? "" : "s");
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function cell(row, text, className) {
    var node = element("td", text, className);
    row.appendChild(node);
    return node;
  }

  function networkName(networkId) {
    var found = state.networks.filter(function (network) { return network.network_id === networkId; })[0];
    return found ? found.name : networkId;
  }

  function say(node, text, kind) {
    node.textContent = text;
    node.className = "admin-result" + (kind ? " " + kind : "");
  }

  // --- networks ---------------------------------------------------------------------------------------------
  function plotNames(plots) {
    var names = Object.keys(plots || {});
    var known = PLOT_ORDER.filter(function (name) { return names.indexOf(name) >= 0; });
    var others = names.filter(function (name) { return PLOT_ORDER.indexOf(name) < 0; }).sort();
    return known.concat(others);
  }

  function renderNetworks() {
    var body = byId("networks-table").tBodies[0];
    var plots = byId("network-plots");
    body.textContent = "";
    plots.textContent = "";
    byId("networks-empty").hidden = state.networks.length > 0;
    state.networks.forEach(function (network) {
      var row = document.createElement("tr");
      var name = element("th", network.name);
      name.scope = "row";
      row.appendChild(name);
      cell(row, "").appendChild(element("code", network.network_id));
      cell(row, percent(network.accuracy), "number");
      cell(row, network.epochs, "number");
      cell(row, when(network.created_at));
      body.appendChild(row);

      var card = element("section", null, "network-card");
      var heading = element("h3", network.name + " ");
      heading.appendChild(element("code", network.network_id));
      card.appendChild(heading);
      card.appendChild(element("p", "Accuracy " + percent(network.accuracy) + " on " + network.test_size +
        " test glyphs, " + count(network.epochs, "epoch") + ", trained on " + network.train_size + " glyphs" +
        (network.device ? " (" + network.device + ")" : "") + ".", "network-facts"));
      var gallery = element("div", null, "plots");
      plotNames(network.plots).forEach(function (file) {
        var title = PLOT_TITLES[file] || file.replace(/\.png$/, "");
        var figure = element("figure", null, "plot");
        var link = element("a");
        link.href = network.plots[file];
        link.target = "_blank";
        link.rel = "noopener";
        link.setAttribute("aria-label", title + " of " + network.name + " (opens full size)");
        var image = element("img");
        image.src = network.plots[file];
        image.alt = title + " of " + network.name + " " + network.network_id;
        image.dataset.plot = file;
        link.appendChild(image);
        figure.appendChild(link);
        figure.appendChild(element("figcaption", title));
        gallery.appendChild(figure);
      });
      if (!gallery.childNodes.length) {
        gallery.appendChild(element("p", "This network has no plots.", "note"));
      }
      card.appendChild(gallery);
      plots.appendChild(card);
    });
    renderMembers();
  }

  // --- ensembles --------------------------------------------------------------------------------------------
  function weightsText(weights) {
    // Heaviest member first, so the one that counts most reads first.
    var ids = Object.keys(weights).sort(function (a, b) {
      return weights[b] - weights[a] || networkName(a).localeCompare(networkName(b));
    });
    return ids.map(function (networkId) {
      return networkName(networkId) + " " + weights[networkId].toFixed(2);
    }).join(" · ");
  }

  function actionButton(text, label, onClick) {
    var button = element("button", text, "button secondary small");
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", onClick);
    return button;
  }

  function renderEnsembles() {
    var body = byId("ensembles-table").tBodies[0];
    body.textContent = "";
    byId("ensembles-empty").hidden = state.ensembles.length > 0;
    byId("ensembles-table").parentNode.hidden = state.ensembles.length === 0;
    state.ensembles.forEach(function (ensemble) {
      var active = ensemble.ensemble_id === state.activeId;
      var row = document.createElement("tr");
      row.dataset.ensembleId = ensemble.ensemble_id;
      if (active) {
        row.className = "active";
      }
      var name = element("th", ensemble.name + " ");
      name.scope = "row";
      name.appendChild(element("code", ensemble.ensemble_id, "small-id"));
      row.appendChild(name);
      cell(row, percent(ensemble.accuracy), "number ensemble-accuracy");
      cell(row, weightsText(ensemble.weights), "ensemble-weights");
      cell(row, ensemble.version, "number ensemble-version");
      var status = cell(row, "", "ensemble-status");
      status.appendChild(active ? element("strong", "Active", "badge") : element("span", ensemble.status));
      var actions = cell(row, "", "actions");
      actions.appendChild(actionButton("Edit", "Edit the weights of " + ensemble.name, function () {
        startEditing(ensemble);
      }));
      if (!active) {
        actions.appendChild(actionButton("Activate", "Activate " + ensemble.name, function () {
          activate(ensemble);
        }));
        actions.appendChild(actionButton("Delete", "Delete " + ensemble.name, function () {
          remove(ensemble);
        }));
      }
      body.appendChild(row);
    });
  }

  function renderMembers() {
    var box = byId("ensemble-members");
    box.textContent = "";
    if (!state.networks.length) {
      box.appendChild(element("p", "Train a network first: an ensemble needs at least one.", "note"));
      return;
    }
    var weights = state.editing ? state.editing.weights : {};
    state.networks.forEach(function (network, index) {
      var row = element("div", null, "member");
      var pick = element("input");
      pick.type = "checkbox";
      pick.id = "member-use-" + index;
      pick.dataset.networkId = network.network_id;
      pick.checked = state.editing ? network.network_id in weights : true;
      var pickLabel = element("label", network.name + " ");
      pickLabel.htmlFor = pick.id;
      pickLabel.appendChild(element("code", network.network_id));
      var weight = element("input");
      weight.type = "number";
      weight.id = "member-weight-" + index;
      weight.min = "0";
      weight.step = "any";
      weight.inputMode = "decimal";
      weight.value = network.network_id in weights ? String(weights[network.network_id]) : "1";
      var weightLabel = element("label", "Weight");
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
    var members = [];
    var problem = null;
    state.networks.forEach(function (network, index) {
      if (!byId("member-use-" + index).checked) {
        return;
      }
      var text = byId("member-weight-" + index).value.trim();
      var weight = Number(text);
      if (text === "" || !isFinite(weight) || weight < 0) {
        problem = problem || "The weight of " + network.name + " must be a number of 0 or more.";
      }
      members.push({ network_id: network.network_id, weight: weight });
    });
    if (!problem && !members.length) {
      problem = "Pick at least one network.";
    }
    if (!problem && !members.some(function (member) { return member.weight > 0; })) {
      problem = "At least one weight must be above 0.";
    }
    return { members: members, problem: problem };
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

  function stopEditing() {
    state.editing = null;
    byId("ensemble-form-title").textContent = "New ensemble";
    byId("ensemble-name").value = "";
    byId("ensemble-submit").textContent = "Evaluate and create";
    byId("ensemble-cancel").hidden = true;
    renderMembers();
  }

  function submitEnsemble(event) {
    event.preventDefault();
    var result = byId("ensemble-result");
    var name = byId("ensemble-name").value.trim();
    var chosen = chosenMembers();
    if (!name) {
      say(result, "Give the ensemble a name.", "error");
      byId("ensemble-name").focus();
      return;
    }
    if (chosen.problem) {
      say(result, chosen.problem, "error");
      return;
    }
    var editing = state.editing;
    var request = editing
      ? api("PATCH", "/admin/ensembles/" + encodeURIComponent(editing.ensemble_id), { name: name, members: chosen.members })
      : api("POST", "/admin/ensembles", { name: name, members: chosen.members });
    var submit = byId("ensemble-submit");
    submit.disabled = true;
    say(result, "Evaluating on the test split…");
    request
      .then(function (detail) {
        stopEditing();
        say(result, "“" + detail.name + "”, version " + detail.version + ": accuracy " + percent(detail.accuracy) +
          (detail.test_size ? " on " + detail.test_size + " test glyphs" : "") + ". Normalised weights: " +
          weightsText(detail.weights) + ".", "success");
        return loadEnsembles();
      })
      .catch(function (error) { failed(error, result, editing ? "The ensemble was not saved" : "The ensemble was not created"); })
      .then(function () { submit.disabled = false; });
  }

  function activate(ensemble) {
    var result = byId("ensemble-result");
    say(result, "Activating " + ensemble.name + "…");
    api("POST", "/admin/ensembles/" + encodeURIComponent(ensemble.ensemble_id) + "/activate")
      .then(function () {
        say(result, ensemble.name + " is now the active ensemble.", "success");
        return loadEnsembles();
      })
      .catch(function (error) { failed(error, result, ensemble.name + " was not activated"); });
  }

  function remove(ensemble) {
    if (!window.confirm("Delete the ensemble " + ensemble.name + "?")) {
      return;
    }
    var result = byId("ensemble-result");
    api("DELETE", "/admin/ensembles/" + encodeURIComponent(ensemble.ensemble_id))
      .then(function () {
        if (state.editing && state.editing.ensemble_id === ensemble.ensemble_id) {
          stopEditing();
        }
        say(result, ensemble.name + " was deleted.", "success");
        return loadEnsembles();
      })
      .catch(function (error) { failed(error, result, ensemble.name + " was not deleted"); });
  }

  // --- training jobs ----------------------------------------------------------------------------------------
  function renderJobs(list) {
    var body = byId("jobs-table").tBodies[0];
    var empty = byId("jobs-empty");
    body.textContent = "";
    list.jobs.forEach(function (job) {
      var row = document.createElement("tr");
      var name = element("th", job.name + " ");
      name.scope = "row";
      name.appendChild(element("code", job.job_id, "small-id"));
      row.appendChild(name);
      cell(row, job.status, "job-status");
      cell(row, when(job.created_at));
      body.appendChild(row);
    });
    byId("jobs-table").parentNode.hidden = list.jobs.length === 0;
    empty.hidden = list.jobs.length > 0;
    empty.textContent = list.runner === "none"
      ? "No training queue is configured here: train locally with drcaptcha train --network NAME."
      : "No training jobs yet.";
  }

  function submitTraining(event) {
    event.preventDefault();
    var result = byId("training-result");
    var network = byId("training-network").value;
    var epochs = Number(byId("training-epochs").value);
    if (!Number.isInteger(epochs) || epochs < 1 || epochs > 500) {
      say(result, "Epochs must be a whole number from 1 to 500.", "error");
      byId("training-epochs").focus();
      return;
    }
    var submit = byId("training-submit");
    submit.disabled = true;
    say(result, "Submitting…");
    api("POST", "/admin/training-jobs", { network: network, epochs: epochs })
      .then(function (job) {
        say(result, "Submitted " + job.name + " (" + job.status + ").", "success");
        return api("GET", "/admin/training-jobs").then(renderJobs);
      })
      .catch(function (error) { failed(error, result, "The training job was not started"); })
      .then(function () { submit.disabled = false; });
  }

  // --- label progress ---------------------------------------------------------------------------------------
  function svgNode(tag, attributes, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) { node.setAttribute(name, String(attributes[name])); });
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  function renderStats(stats) {
    var bars = [
      { name: "Votes", value: stats.votes, colour: "#1f5fbf" },
      { name: "Labelled by the crowd", value: stats.glyphs_labelled_by_crowd, colour: "#2b7a3d" },
      { name: "Still unlabelled", value: stats.glyphs_unlabelled, colour: "#b35c00" },
      { name: "Ambiguous", value: stats.glyphs_ambiguous, colour: "#6b717b" }
    ];
    var chart = byId("progress-chart");
    var rowHeight = 46;
    var width = 480;
    var barSpace = width - 70;
    var largest = Math.max.apply(null, bars.map(function (bar) { return bar.value; }).concat([1]));
    var title = "Label progress: " + bars.map(function (bar) { return bar.value + " " + bar.name.toLowerCase(); }).join(", ");
    chart.textContent = "";
    chart.setAttribute("viewBox", "0 0 " + width + " " + (bars.length * rowHeight + 4));
    chart.appendChild(svgNode("title", { id: "progress-chart-title" }, title));
    bars.forEach(function (bar, index) {
      var top = index * rowHeight;
      var length = bar.value > 0 ? Math.max(2, (bar.value / largest) * barSpace) : 0;
      var group = svgNode("g", { "class": "bar", "data-name": bar.name, "data-value": bar.value });
      group.appendChild(svgNode("text", { x: 0, y: top + 16, "class": "bar-label" }, bar.name));
      group.appendChild(svgNode("rect", { x: 0, y: top + 22, width: barSpace, height: 18, rx: 2, "class": "bar-track" }));
      group.appendChild(svgNode("rect", { x: 0, y: top + 22, width: length.toFixed(1), height: 18, rx: 2, fill: bar.colour, "class": "bar-fill" }));
      group.appendChild(svgNode("text", { x: barSpace + 8, y: top + 36, "class": "bar-value" }, bar.value));
      chart.appendChild(group);
    });

    // With nothing unlabelled or ambiguous, challenges are made of known glyphs only: say so, and how to go on.
    var labelStatus = byId("label-status");
    labelStatus.hidden = !stats.nothing_left_to_label;
    labelStatus.textContent = stats.nothing_left_to_label
      ? "Nothing left to label: challenges show known glyphs only and collect no votes. " +
        "`drcaptcha remove-labels N` gives the crowd more."
      : "";

    var list = byId("stats");
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
    ].forEach(function (entry) {
      var item = element("div");
      item.appendChild(element("dt", entry[1]));
      var value = element("dd", entry[2]);
      value.dataset.stat = entry[0];
      item.appendChild(value);
      list.appendChild(item);
    });
  }

  // --- loading, signing in and out --------------------------------------------------------------------------
  function loadEnsembles() {
    return api("GET", "/admin/ensembles").then(function (list) {
      state.ensembles = list.ensembles;
      state.activeId = list.active_id;
      renderEnsembles();
    });
  }

  function loadNetworks() {
    return api("GET", "/admin/networks").then(function (list) {
      state.networks = list.networks;
      renderNetworks();
    });
  }

  function loadEverything() {
    var status = byId("dashboard-status");
    status.textContent = "Loading…";
    // Networks first: they name the ensembles' members, and a refused key shows up once, not four times.
    return loadNetworks()
      .then(function () {
        return Promise.all([
          loadEnsembles(),
          api("GET", "/admin/training-jobs").then(renderJobs),
          api("GET", "/admin/stats").then(renderStats)
        ]);
      })
      .then(function () {
        status.textContent = "Signed in. Loaded " + count(state.networks.length, "network") + " and " +
          count(state.ensembles.length, "ensemble") + " at " + new Date().toLocaleTimeString() + ".";
      });
  }

  function showDashboard(shown) {
    byId("signin").hidden = shown;
    byId("dashboard").hidden = !shown;
  }

  function signOut(message) {
    storeKey(null);
    state = { networks: [], ensembles: [], activeId: null, editing: null };
    // Leave no presigned URL or data on the page once signed out.
    ["networks-table", "ensembles-table", "jobs-table"].forEach(function (id) { byId(id).tBodies[0].textContent = ""; });
    ["network-plots", "ensemble-members", "stats", "progress-chart", "label-status"].forEach(function (id) { byId(id).textContent = ""; });
    byId("label-status").hidden = true;
    showDashboard(false);
    var error = byId("signin-error");
    error.hidden = !message;
    error.textContent = message || "";
    byId("admin-key").value = "";
    byId("admin-key").focus();
  }

  function failed(error, node, what) {
    if (isAuthError(error)) {
      signOut("Your admin key was refused (" + error.message + "). Sign in again.");
      return;
    }
    say(node, what + ": " + error.message + ".", "error");
  }

  function signIn(key, onDone) {
    storeKey(key);
    var button = byId("signin-button");
    button.disabled = true;
    return loadEverything()
      .then(function () {
        byId("signin-error").hidden = true;
        showDashboard(true);
        if (onDone) {
          onDone();
        }
      })
      .catch(function (error) {
        if (isAuthError(error)) {
          signOut(error.status === 403
            ? "That admin key is not valid. Check it, or make a new one with drcaptcha create-admin."
            : "The admin API refused the key: " + error.message + ".");
        } else {
          showDashboard(false);
          var message = byId("signin-error");
          message.hidden = false;
          message.textContent = "Could not load the dashboard: " + error.message + ".";
        }
      })
      .then(function () { button.disabled = false; });
  }

  byId("signin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var key = byId("admin-key").value.trim();
    if (!key) {
      var error = byId("signin-error");
      error.hidden = false;
      error.textContent = "Enter an admin key.";
      byId("admin-key").focus();
      return;
    }
    signIn(key, function () { byId("networks-title").focus(); });
  });
  byId("signout").addEventListener("click", function () { signOut(null); });
  byId("refresh").addEventListener("click", function () {
    loadEverything().catch(function (error) { failed(error, byId("dashboard-status"), "Could not refresh"); });
  });
  byId("ensemble-form").addEventListener("submit", submitEnsemble);
  byId("ensemble-cancel").addEventListener("click", function () {
    stopEditing();
    say(byId("ensemble-result"), "");
  });
  byId("training-form").addEventListener("submit", submitTraining);

  if (currentKey()) {
    signIn(currentKey());
  } else {
    byId("admin-key").focus();
  }
})();
