// Nectar's dashboard: one page, no build step. State comes from /api/v1 on load (history read from the
// store) and from /api/v1/events afterwards; the page redraws at most RENDER_HZ times a second whatever the
// event rate. Ids are strings (NOM ids exceed 2^53): never turned into numbers, except file names into
// seconds through BigInt for the chart's time axis.
"use strict";

// redraws a second: 4 unless the page's URL says ?hz=N (1 to 10): a wall screen or a slow machine takes fewer
const RENDER_HZ = Math.min(10, Math.max(1, Number(new URLSearchParams(location.search).get("hz")) || 4));
const HISTORY_SECONDS = 600;  // the chart's window
const state = {
  jobs: new Map(),        // jobId -> row of /api/v1/jobs
  applies: new Map(),     // applyId -> row
  standing: new Map(),    // applyId -> {top, objects, ...}
  health: {services: {}, activity: "connecting…"},
  perSecond: new Map(),   // jobId -> Map(second -> objects)
  seen: new Set(),        // "job/name" of file events already counted
  seenOrder: [],
  events: 0,
  lastEventId: null,
};
window.nectar = state;  // for the browser tests and the curious

const dirty = {header: false, jobs: false, standing: false, applies: false};  // what the next redraw redraws
let chart = null;
let chartJobs = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(method, path, body) {
  const reply = await fetch(path, {method, headers: {"content-type": "application/json"},
                                   body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await reply.json().catch(() => ({message: reply.statusText}));
  if (!reply.ok) throw new Error(`${data.message || reply.statusText}${data.field ? ` (${data.field})` : ""}`);
  return data;
}

function seconds(name) { return Number(BigInt(name) / 1000000000n); }

function countFile(job, file) {
  const key = `${job}/${file.name}`;
  if (state.seen.has(key)) return false;
  state.seen.add(key);
  state.seenOrder.push(key);
  if (state.seenOrder.length > 200000) state.seen.delete(state.seenOrder.shift());
  let buckets = state.perSecond.get(job);
  if (!buckets) { buckets = new Map(); state.perSecond.set(job, buckets); }
  const s = seconds(file.name);
  buckets.set(s, (buckets.get(s) || 0) + file.objects);
  return true;
}

async function loadHistory(job) {
  // the last HISTORY_SECONDS of the job's files, from the store: file names are write times in ns
  let after = (BigInt(Date.now() - HISTORY_SECONDS * 1000) * 1000000n).toString();
  for (let page = 0; page < 20; page++) {
    const reply = await api("GET", `/api/v1/jobs/${encodeURIComponent(job)}/files?limit=5000&after=${after}`);
    for (const file of reply.files) countFile(job, file);
    if (!reply.more || reply.files.length === 0) break;
    after = reply.files[reply.files.length - 1].name;
  }
}

function markDirty(...sections) {
  for (const section of sections.length ? sections : Object.keys(dirty)) dirty[section] = true;
}

function onEvent(sections, handler) {
  return (message) => {
    state.events += 1;
    if (message.lastEventId) state.lastEventId = message.lastEventId;
    handler(JSON.parse(message.data));
    if (sections.length) markDirty(...sections);
  };
}

function setJobs(rows) {
  state.jobs = new Map(rows.map((row) => [row.jobId, row]));
}
function setApplies(rows) {
  state.applies = new Map(rows.map((row) => [row.applyId, row]));
}

function connect() {
  const source = new EventSource("/api/v1/events");
  source.addEventListener("hello", onEvent(Object.keys(dirty), (data) => {
    setJobs(data.jobs); setApplies(data.applies); state.health = data.health;
    state.standing = new Map(data.standing.map((s) => [s.applyId, s]));
  }));
  // a file only feeds the chart (redrawn each second); the table's counts come with "jobs" events
  source.addEventListener("file", onEvent([], (data) => countFile(data.job, data)));
  source.addEventListener("jobs", onEvent(["jobs"], (data) => setJobs(data.jobs)));
  source.addEventListener("applies", onEvent(["applies"], (data) => setApplies(data.applies)));
  source.addEventListener("standing", onEvent(["standing"], (data) => state.standing.set(data.applyId, data)));
  source.addEventListener("health", onEvent(["header"], (data) => { state.health = data; }));
  source.onerror = () => {
    state.health = {...state.health, activity: "reconnecting to the web service…"};
    markDirty("header");
  };
}

function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function bar(fraction) {
  const inner = el("span");
  inner.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  return el("span", {class: "bar"}, inner);
}


// Tables are updated in place: a row per key, a cell's text or node replaced only when it changed, so a
// frame repaints the few cells that moved (each frame costs the browser in proportion to what changed).
function syncRows(body, rows, key, cellsOf) {
  const existing = new Map([...body.children].map((tr) => [tr.dataset.key, tr]));
  const wanted = rows.map((row) => String(row[key]));
  wanted.forEach((id, index) => {
    let tr = existing.get(id);
    const cells = cellsOf(rows[index]);
    if (!tr || tr.children.length !== cells.length) {
      if (tr) tr.remove();
      tr = el("tr", {"data-key": id});
      tr.dataset[key === "jobId" ? "job" : "apply"] = id;
      for (let i = 0; i < cells.length; i++) tr.append(el("td"));
    }
    cells.forEach((cell, i) => {
      const td = tr.children[i];
      const spec = typeof cell === "object" && cell !== null ? cell : {text: String(cell ?? "")};
      if (spec.class && td.className !== spec.class) td.className = spec.class;
      const sig = spec.sig ?? spec.text;
      if (td.dataset.sig !== sig) {
        td.dataset.sig = sig;
        if (spec.build) td.replaceChildren(...spec.build());
        else td.textContent = spec.text;
      }
    });
    if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);
  });
  for (const [id, tr] of existing) if (!wanted.includes(id)) tr.remove();
}

function renderHeader() {
  document.getElementById("activity").textContent = state.health.activity || "";
  const services = document.getElementById("services");
  services.replaceChildren(...Object.entries(state.health.services || {}).map(([name, h]) =>
    el("span", {class: h.up ? "up" : "down", title: h.endpoint || ""}, `● ${name} `)));
}

function renderJobs() {
  const body = document.querySelector("#jobs tbody");
  const rows = [...state.jobs.values()].filter((r) => r.source !== "results");
  syncRows(body, rows, "jobId", (r) => {
    const live = r.state === "running" || r.state === "paused";
    return [r.jobId, r.jobName || "", r.state, {text: (r.objects ?? 0).toLocaleString("en"), class: "objects"},
            r.files ?? 0,
            {sig: `${r.bytes}/${r.maxSize}`, build: () => r.maxSize
              ? [fmtBytes(r.bytes), " / ", fmtBytes(r.maxSize), " ", bar(r.bytes / r.maxSize)] : [fmtBytes(r.bytes)]},
            Number(r.rate || 0).toFixed(1), {text: r.newestId || "", class: "newest-id"},
            {sig: live ? "stop" : "", build: () => live ? [el("button", {onclick: () =>
              api("POST", `/api/v1/jobs/${encodeURIComponent(r.jobId)}/stop`).catch(showError("start-job-message"))},
              "stop")] : []}];
  });
  const select = document.getElementById("apply-job");
  const current = select.value;
  const ids = [...state.jobs.keys()];
  if (select.options.length !== ids.length || [...select.options].some((o, i) => o.value !== ids[i])) {
    select.replaceChildren(...ids.map((id) => el("option", {value: id}, id)));
    if (ids.includes(current)) select.value = current;
  }
}

function renderChart() {
  const live = [...state.perSecond.keys()];
  const now = Math.floor(Date.now() / 1000);
  let first = now - 60;  // the window starts with the oldest data shown (at most HISTORY_SECONDS ago)
  for (const buckets of state.perSecond.values()) for (const s of buckets.keys()) first = Math.min(first, s - 5);
  const xs = [];
  for (let s = Math.max(first, now - HISTORY_SECONDS); s <= now; s++) xs.push(s);
  const series = live.map((job) => xs.map((s) => state.perSecond.get(job).get(s) || 0));
  const holder = document.getElementById("rate-chart");
  if (!chart || chartJobs.join() !== live.join()) {
    if (chart) chart.destroy();
    const colors = ["#2a6", "#36c", "#c63", "#939", "#c39", "#399", "#993", "#666"];
    chart = new uPlot({width: Math.max(400, holder.clientWidth || 800), height: 200,
                       title: "ingest: objects per second",
                       series: [{}, ...live.map((job, i) => ({label: job, stroke: colors[i % colors.length], points: {show: false}}))],
                       axes: [{}, {label: "objects/s"}]}, [xs, ...series], holder);
    chartJobs = live;
  } else {
    chart.setData([xs, ...series]);
  }
}

function renderStanding() {
  const holder = document.getElementById("standing");
  const views = [...state.standing.values()];
  const seen = new Set();
  for (const s of views) {
    seen.add(s.applyId);
    let card = holder.querySelector(`.card[data-apply="${CSS.escape(s.applyId)}"]`);
    if (!card) {
      card = el("div", {class: "card", "data-apply": s.applyId}, el("strong", {}, `${s.map} ${s.reduce}`),
                ` over ${s.job} `, el("button", {onclick: () => cancel(s.applyId)}, "cancel"),
                el("div", {class: "folded"}), el("ol", {class: "top"}));
      holder.append(card);
    }
    const folded = `${(s.objects ?? 0).toLocaleString("en")} objects folded, ${s.keys ?? 0} keys`;
    const line = card.querySelector(".folded");
    if (line.textContent !== folded) line.textContent = folded;
    const items = (s.top || []).map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value)
      : value}`);
    const list = card.querySelector("ol.top");
    while (list.children.length > items.length) list.lastChild.remove();
    items.forEach((text, i) => {
      const li = list.children[i] || list.appendChild(el("li"));
      if (li.textContent !== text) li.textContent = text;
    });
  }
  for (const card of [...holder.querySelectorAll(".card")]) if (!seen.has(card.dataset.apply)) card.remove();
  const none = holder.querySelector("p.none");
  if (views.length && none) none.remove();
  if (!views.length && !none) holder.append(el("p", {class: "none"}, "none"));
}

function renderApplies() {
  const body = document.querySelector("#applies tbody");
  const rows = [...state.applies.values()].reverse().slice(0, 50);
  syncRows(body, rows, "applyId", (a) => {
    const p = a.progress || {};
    const fraction = a.state === "running" ? (p.objects || 0) / Math.max(1, p.total || a.total || 1) : 1;
    const percent = Math.round(fraction * 100);
    const done = a.state === "done" || a.state === "standing";
    const live = a.state === "running" || a.state === "standing";
    return [a.applyId, a.job, a.map, a.reduce, {text: a.state, class: "state"},
            {sig: String(percent), build: () => [bar(fraction), ` ${percent}%`]},
            {sig: `${done}/${live}`, build: () => [
              ...(done ? [el("button", {class: "show-result", onclick: () => showResult(a.applyId)}, "result")] : []),
              ...(live ? [el("button", {onclick: () => cancel(a.applyId)}, "cancel")] : [])]}];
  });
}

const RENDERERS = {header: renderHeader, jobs: renderJobs, standing: renderStanding, applies: renderApplies};

let chartDrawn = 0;

function render() {
  // one frame draws whatever is due: the sections that changed, and the chart once a second (a frame costs
  // the browser far more than the drawing in it, so they share frames)
  if (document.hidden) return;  // a background tab draws nothing; it catches up when shown
  const sections = Object.keys(dirty).filter((section) => dirty[section]);
  const chartDue = Date.now() - chartDrawn >= 1000;
  if (!sections.length && !chartDue) return;
  state.renders = (state.renders || 0) + 1;
  for (const section of sections) {
    dirty[section] = false;
    RENDERERS[section]();
  }
  if (chartDue || sections.includes("jobs")) {
    chartDrawn = Date.now();
    renderChart();
  }
}

function showError(id) {
  return (error) => {
    const node = document.getElementById(id);
    node.textContent = error.message;
    node.className = "error";
  };
}

async function cancel(applyId) {
  await api("POST", `/api/v1/applies/${encodeURIComponent(applyId)}/cancel`).catch(showError("apply-message"));
}

async function showResult(applyId) {
  const reply = await api("GET", `/api/v1/applies/${encodeURIComponent(applyId)}/result?limit=20`)
    .catch(showError("apply-message"));
  if (!reply) return;
  const holder = document.getElementById("result");
  holder.replaceChildren(el("h3", {}, `result of ${applyId} (${reply.keys} keys; the first ${reply.rows.length})`),
    el("table", {class: "result-rows"}, ...reply.rows.map(([key, value]) => el("tr", {}, el("td", {}, key),
      el("td", {}, typeof value === "object" ? JSON.stringify(value) : value)))));
}

async function startJob() {
  const message = document.getElementById("start-job-message");
  let request;
  try {
    request = JSON.parse(document.getElementById("job-request").value);
  } catch (error) {
    message.textContent = `not valid JSON: ${error.message}`;
    message.className = "error";
    return;
  }
  const reply = await api("POST", "/api/v1/jobs", request).catch(showError("start-job-message"));
  if (reply) {
    message.textContent = `started ${reply.data.jobId}`;
    message.className = "";
  }
}

async function startApply(event) {
  event.preventDefault();
  const body = {jobId: document.getElementById("apply-job").value, map: document.getElementById("apply-map").value,
                reduce: document.getElementById("apply-reduce").value};
  const from = document.getElementById("apply-from").value;
  const to = document.getElementById("apply-to").value;
  if (from) body.fromDate = from;
  if (to) body.toDate = to;
  const reply = await api("POST", "/api/v1/applies", body).catch(showError("apply-message"));
  if (reply) {
    const message = document.getElementById("apply-message");
    message.textContent = `apply ${reply.applyId} ${reply.state}`;
    message.className = "";
    message.dataset.applyId = reply.applyId;
  }
}

async function start() {
  document.getElementById("start-job-button").addEventListener("click", startJob);
  document.getElementById("apply-form").addEventListener("submit", startApply);
  connect();  // first, so nothing stored while the history loads is missed (duplicates are dropped by name)
  const [jobs, applies, functions] = await Promise.all([api("GET", "/api/v1/jobs"), api("GET", "/api/v1/applies"),
    api("GET", "/api/v1/functions").catch(() => ({maps: [], reduces: []}))]);
  setJobs(jobs.jobs);
  setApplies(applies.applies);
  document.getElementById("maps").replaceChildren(...functions.maps.map((m) => el("option", {value: m})));
  document.getElementById("reduces").replaceChildren(...functions.reduces.map((r) => el("option", {value: r})));
  const live = jobs.jobs.filter((r) => r.state === "running" || r.state === "paused");
  await Promise.all(live.map((r) => loadHistory(r.jobId)));
  markDirty();
  render();
  state.loaded = true;
  setInterval(render, 1000 / RENDER_HZ);
  document.addEventListener("visibilitychange", () => { markDirty(); render(); });
}

start().catch((error) => { document.getElementById("activity").textContent = `error: ${error.message}`; });
