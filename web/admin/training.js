// The training section: start a job, and the list of jobs.
import { byId, cell, element, say, when } from "./dom.js";
import { api, failed } from "./session.js";

function renderJobs(list) {
  const body = byId("jobs-table").tBodies[0];
  const empty = byId("jobs-empty");
  body.textContent = "";
  list.jobs.forEach((job) => {
    const row = document.createElement("tr");
    const name = element("th", job.name + " ");
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

export function loadJobs() {
  return api("GET", "/admin/training-jobs").then(renderJobs);
}

export function submitTraining(event) {
  event.preventDefault();
  const result = byId("training-result");
  const network = byId("training-network").value;
  const epochs = Number(byId("training-epochs").value);
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > 500) {
    say(result, "Epochs must be a whole number from 1 to 500.", "error");
    byId("training-epochs").focus();
    return;
  }
  const submit = byId("training-submit");
  submit.disabled = true;
  say(result, "Submitting…");
  api("POST", "/admin/training-jobs", { network, epochs })
    .then((job) => {
      say(result, "Submitted " + job.name + " (" + job.status + ").", "success");
      return loadJobs();
    })
    .catch((error) => failed(error, result, "The training job was not started"))
    .then(() => { submit.disabled = false; });
}
