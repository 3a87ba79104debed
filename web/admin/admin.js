/*
 * The admin dashboard, on top of the admin API (functions/admin/app.py): signing in and out, loading, and the
 * wiring of each section's module (networks.js, ensembles.js, training.js, progress.js). Native ES modules, no
 * build step; session.js holds the key and the API calls, dom.js builds elements (text only, never HTML).
 */
import { byId, count, say } from "./dom.js";
import { loadEnsembles, stopEditing, submitEnsemble } from "./ensembles.js";
import { loadNetworks } from "./networks.js";
import { loadStats } from "./progress.js";
import { currentKey, failed, isAuthError, storeKey, whenKeyRefused } from "./session.js";
import { resetState, state } from "./state.js";
import { loadJobs, submitTraining } from "./training.js";

function loadEverything() {
  const status = byId("dashboard-status");
  status.textContent = "Loading…";
  // Networks first: they name the ensembles' members, and a refused key shows up once, not four times.
  return loadNetworks()
    .then(() => Promise.all([loadEnsembles(), loadJobs(), loadStats()]))
    .then(() => {
      status.textContent = "Signed in. Loaded " + count(state.networks.length, "network") + " and " +
        count(state.ensembles.length, "ensemble") + " at " + new Date().toLocaleTimeString() + ".";
    });
}

function showDashboard(shown) {
  byId("signin").hidden = shown;
  byId("dashboard").hidden = !shown;
}

function showSignInError(message) {
  const error = byId("signin-error");
  error.hidden = !message;
  error.textContent = message || "";
}

function signOut(message) {
  storeKey(null);
  resetState();
  // Leave no presigned URL or data on the page once signed out.
  ["networks-table", "ensembles-table", "jobs-table"].forEach((id) => { byId(id).tBodies[0].textContent = ""; });
  ["network-plots", "ensemble-members", "stats", "progress-chart", "label-status", "pool-status"].forEach((id) => {
    byId(id).textContent = "";
  });
  byId("label-status").hidden = true;
  byId("pool-status").hidden = true;
  showDashboard(false);
  showSignInError(message);
  byId("admin-key").value = "";
  byId("admin-key").focus();
}

function signIn(key, onDone) {
  storeKey(key);
  const button = byId("signin-button");
  button.disabled = true;
  return loadEverything()
    .then(() => {
      byId("signin-error").hidden = true;
      showDashboard(true);
      if (onDone) {
        onDone();
      }
    })
    .catch((error) => {
      if (isAuthError(error)) {
        signOut(error.status === 403
          ? "That admin key is not valid. Check it, or make a new one with drcaptcha create-admin."
          : "The admin API refused the key: " + error.message + ".");
      } else {
        showDashboard(false);
        showSignInError("Could not load the dashboard: " + error.message + ".");
      }
    })
    .then(() => { button.disabled = false; });
}

whenKeyRefused(signOut);
byId("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = byId("admin-key").value.trim();
  if (!key) {
    showSignInError("Enter an admin key.");
    byId("admin-key").focus();
    return;
  }
  signIn(key, () => byId("networks-title").focus());
});
byId("signout").addEventListener("click", () => signOut(null));
byId("refresh").addEventListener("click", () => {
  loadEverything().catch((error) => failed(error, byId("dashboard-status"), "Could not refresh"));
});
byId("ensemble-form").addEventListener("submit", submitEnsemble);
byId("ensemble-cancel").addEventListener("click", () => {
  stopEditing();
  say(byId("ensemble-result"), "");
});
byId("training-form").addEventListener("submit", submitTraining);

if (currentKey()) {
  signIn(currentKey());
} else {
  byId("admin-key").focus();
}
