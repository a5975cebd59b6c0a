// Wharf's console: sign-in, fragments fetched with the bearer token, the
// buttons, auto-refresh, log following and the queue chart. No framework,
// nothing inline (the Content-Security-Policy forbids it). The token lives
// in sessionStorage only: never in a cookie, a URL or a log.
"use strict";

const TOKEN_KEY = "wharf.token";
const MESSAGE_KEY = "wharf.sign-in-message";
const REFRESH_MS = 5000;
const LOG_POLL_MS = 1000;
const CHART_MINUTES = 10;
// The statuses of a task that has not ended yet.
const ACTIVE = ["waiting", "queued", "running"];

const $ = (selector) => document.querySelector(selector);

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// A token given in the fragment (/console#token=…) is taken and the
// fragment cleared, so it is neither kept in history nor shown. (A browser
// may still have recorded the address as typed: use it for local demos.)
function takeTokenFromFragment() {
  const match = location.hash.match(/^#token=(.+)$/);
  if (!match) return false;
  let given;
  try {
    given = decodeURIComponent(match[1]);
  } catch (_) {
    given = match[1];
  }
  sessionStorage.setItem(TOKEN_KEY, given);
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

function showSignIn() {
  $("#signed-in").hidden = true;
  $("#sign-out").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-error").textContent = sessionStorage.getItem(MESSAGE_KEY) || "";
  sessionStorage.removeItem(MESSAGE_KEY);
  $("#token").focus();
}

// Forgets the token and starts the page afresh: no timer keeps polling,
// nothing read with the token stays in the page.
function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.setItem(MESSAGE_KEY, message);
  location.reload();
}

// A call to this API with the token; a 401 signs out, other failures
// throw with the problem's detail.
async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers, { Authorization: "Bearer " + token() });
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    signOut("The API did not accept that token.");
    throw new Error("signed out");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not a problem document */ }
    throw new Error(response.status + ": " + detail);
  }
  return response;
}

function say(message) {
  $("#status-line").textContent = message;
}

// Fetches a fragment and puts it in place.
async function load(path, into) {
  const response = await api(path);
  into.innerHTML = await response.text();
  say("");
  return into;
}

// ---- tasks ----------------------------------------------------------------

function taskQuery(cursor) {
  const query = new URLSearchParams();
  for (const [key, value] of new FormData($("#filters"))) {
    if (value) query.append(key, value);
  }
  if (cursor) query.set("cursor", cursor);
  return query;
}

function fillFilters() {
  const params = new URLSearchParams(location.search);
  for (const field of $("#filters").elements) {
    if (field.name && params.has(field.name)) field.value = params.get(field.name);
  }
}

// Set once "More" has added a page: refreshing would take it away again.
let expanded = false;

async function loadTasks() {
  expanded = false;
  await load("/console/fragments/tasks?" + taskQuery(), $("#fragment"));
}

async function loadMore(button) {
  const holder = document.createElement("div");
  await load("/console/fragments/tasks?" + taskQuery(button.dataset.cursor), holder);
  const rows = $("#task-rows");
  for (const row of holder.querySelectorAll("#task-rows > tr")) rows.appendChild(row);
  expanded = true;
  const next = holder.querySelector("#more");
  if (next) button.dataset.cursor = next.dataset.cursor;
  else button.parentElement.remove();
}

function startTasks() {
  fillFilters();
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = taskQuery().toString();
    history.pushState(null, "", location.pathname + (query ? "?" + query : ""));
    loadTasks().catch((e) => say(e.message));
  });
  $("#fragment").addEventListener("click", (event) => {
    if (event.target.id === "more") loadMore(event.target).catch((e) => say(e.message));
  });
  window.addEventListener("popstate", () => { fillFilters(); loadTasks().catch((e) => say(e.message)); });
  loadTasks().catch((e) => say(e.message));
  setInterval(() => {
    // Refreshing resets the list: not while more pages are shown.
    if ($("#auto-refresh").checked && !document.hidden && !expanded) {
      loadTasks().catch((e) => say(e.message));
    }
  }, REFRESH_MS);
}

// ---- one task -------------------------------------------------------------

function startTask(id) {
  const fragment = $("#fragment");
  let timer = null;
  const refresh = async () => {
    const spec = $("#spec");
    const open = spec !== null && spec.open;
    await load("/console/fragments/tasks/" + encodeURIComponent(id), fragment);
    if (open && $("#spec")) $("#spec").open = true;
    const article = $("#task");
    if (article && !ACTIVE.includes(article.dataset.status)) {
      clearInterval(timer);
      timer = null;
    }
  };
  // Polls the task and follows its log until it ends; again once retried.
  const watch = () => {
    if (timer === null) {
      timer = setInterval(() => { if (!document.hidden) refresh().catch((e) => say(e.message)); }, REFRESH_MS);
    }
    $("#log").replaceChildren();
    followLog(id).catch((e) => say(e.message));
  };
  fragment.addEventListener("click", (event) => {
    const action = event.target.dataset.action;
    if (!action) return;
    act(id, action, event.target, refresh, watch).catch((e) => say(e.message));
  });
  refresh().catch((e) => say(e.message));
  watch();
}

// A task page's buttons; `refresh` reloads the page's fragment, `watch`
// follows the task again.
async function act(id, action, button, refresh, watch) {
  const path = "/v1/tasks/" + encodeURIComponent(id);
  if (action === "cancel") {
    if (!confirm("Cancel this task?")) return;
    await api(path + "/cancel", { method: "POST" });
    await refresh();
    say("Cancelled.");
  } else if (action === "retry") {
    if (!confirm("Run this task again?")) return;
    await api(path + "/retry", { method: "POST" });
    await refresh();
    watch();
    say("Retried.");
  } else if (action === "delete") {
    if (!confirm("Delete this task, its outputs and its logs?")) return;
    await api(path + (button.dataset.force === "true" ? "?force=true" : ""), { method: "DELETE" });
    location.assign("/console");
  }
}

// Follows the log as `wharf logs -f` does: the latest attempt from its
// start, then each attempt after it, until the task has ended.
async function followLog(id) {
  const log = $("#log");
  const state = $("#log-state");
  let attempt = null;
  let offset = 0;
  for (;;) {
    const query = new URLSearchParams({ offset });
    if (attempt !== null) query.set("attempt", attempt);
    const path = "/v1/tasks/" + encodeURIComponent(id) + "/logs?" + query;
    const chunk = await (await api(path)).json();
    if (chunk.attempt === 0) {
      state.textContent = "Not started yet.";
      if (chunk.complete) return;
      await sleep(LOG_POLL_MS);
      continue;
    }
    if (attempt === null) attempt = chunk.attempt;
    if (chunk.data) log.append(document.createTextNode(chunk.data));
    offset = chunk.nextOffset;
    state.textContent = "Attempt " + attempt + (chunk.complete ? "" : ", following…");
    if (chunk.complete) {
      const task = await (await api("/v1/tasks/" + encodeURIComponent(id))).json();
      if (task.attempt > attempt) {
        attempt += 1;
        offset = 0;
        log.append(document.createTextNode("── attempt " + attempt + " ──\n"));
        continue;
      }
      if (!ACTIVE.includes(task.status)) {
        if (!log.textContent) state.textContent = "Attempt " + attempt + ": the log is empty.";
        return;
      }
    }
    if (!chunk.data || chunk.complete) await sleep(LOG_POLL_MS);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- workers --------------------------------------------------------------

function startWorkers() {
  const fragment = $("#fragment");
  const refresh = () => load("/console/fragments/workers", fragment).catch((e) => say(e.message));
  fragment.addEventListener("click", async (event) => {
    const { action, worker } = event.target.dataset;
    if (!action || !worker) return;
    if (!confirm(action === "drain" ? "Drain " + worker + "? It finishes its tasks and takes no more."
                                    : "Revoke " + worker + "? Its tasks go to other workers and it exits.")) return;
    try {
      await api("/v1/workers/" + encodeURIComponent(worker) + "/" + action, { method: "POST" });
      say(worker + ": asked to " + action + "; it obeys at its next heartbeat.");
      await refresh();
    } catch (e) { say(e.message); }
  });
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
}

// ---- queues ---------------------------------------------------------------

function startQueues() {
  const samples = new Map(); // queue -> [{at, visible, inFlight}]
  const refresh = async () => {
    await load("/console/fragments/queues", $("#fragment"));
    const now = Date.now();
    for (const row of document.querySelectorAll("#queues tr[data-queue]")) {
      const series = samples.get(row.dataset.queue) || [];
      series.push({ at: now, visible: +row.dataset.visible, inFlight: +row.dataset.inFlight });
      while (series.length && series[0].at < now - CHART_MINUTES * 60000) series.shift();
      samples.set(row.dataset.queue, series);
    }
    drawCharts(samples, now);
  };
  refresh().catch((e) => say(e.message));
  setInterval(() => { if (!document.hidden) refresh().catch((e) => say(e.message)); }, REFRESH_MS);
}

const SVG = "http://www.w3.org/2000/svg";

function drawCharts(samples, now) {
  const charts = $("#charts");
  charts.replaceChildren();
  const width = 600, height = 120, span = CHART_MINUTES * 60000;
  for (const [queue, series] of samples) {
    const top = Math.max(1, ...series.map((s) => s.visible + s.inFlight));
    const figure = document.createElement("figure");
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", queue + ": at most " + top + " messages in the last " + CHART_MINUTES + " minutes");
    for (const [key, cls] of [["visible", "line-visible"], ["inFlight", "line-in-flight"]]) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", cls);
      line.setAttribute("points", series.map((s) =>
        ((s.at - (now - span)) / span * width).toFixed(1) + "," +
        (height - 4 - s[key] / top * (height - 8)).toFixed(1)).join(" "));
      svg.appendChild(line);
    }
    const caption = document.createElement("figcaption");
    const last = series[series.length - 1];
    caption.textContent = queue + ": " + last.visible + " visible, " + last.inFlight + " in flight (peak " + top + ")";
    figure.append(svg, caption);
    charts.appendChild(figure);
  }
}

// ---- start ----------------------------------------------------------------

function start() {
  $("#sign-in").hidden = true;
  $("#signed-in").hidden = false;
  $("#sign-out").hidden = false;
  const task = document.body.dataset.task;
  if (task) startTask(task);
  else if ($("[data-fragment=tasks]")) startTasks();
  else if ($("[data-fragment=workers]")) startWorkers();
  else if ($("[data-fragment=queues]")) startQueues();
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  // A #token= link opened in a tab already showing the console.
  window.addEventListener("hashchange", () => {
    if (takeTokenFromFragment()) location.reload();
  });
  $("#sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    start();
  });
  $("#sign-out").addEventListener("click", () => signOut("Signed out."));
  if (token()) start();
  else showSignIn();
});
