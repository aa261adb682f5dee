// livestyle control panel: talks to the control API of the same origin with the run's token.
// The token comes from the page URL (?token=...) and is sent as "Authorization: Bearer" on every call,
// so the event stream is read with fetch() rather than EventSource (which cannot send headers).
// Every change is a command of livestyle's one vocabulary (livestyle/controls.py), sent to POST /api/command;
// the server validates it and answers 400 with one line when it is refused, which the panel shows as is.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("livestyle-token") || "";
if (params.get("token")) sessionStorage.setItem("livestyle-token", token);
const auth = { Authorization: "Bearer " + token };
const $ = (id) => document.getElementById(id);

let state = null;
let looks = [];
let showBefore = false;
let sliderBusy = 0;  // while the user drags, events do not move the slider under the pointer
const history = [];  // {t, fps, p95, cpu}

async function api(path, body) {
  const opts = body === undefined ? { headers: auth }
    : { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const res = await fetch(path, opts);
  const data = res.headers.get("Content-Type")?.startsWith("application/json") ? await res.json() : null;
  if (!res.ok) throw new Error((data && data.error) || res.statusText);
  if (data && data.state) render(data.state);
  return data;
}

// one control command: {name, value} (value omitted for commands that take none)
const command = (name, value) => api("/api/command", value === undefined ? { name } : { name, value });

function setConn(ok, text) {
  const c = $("conn");
  c.textContent = text;
  c.className = "pill " + (ok ? "ok" : "bad");
}

function render(s) {
  state = s;
  $("look-now").textContent = s.bypass ? "(bypass)" : s.look + (s.loading ? " — loading " + s.loading : "");
  const err = $("look-error");
  err.hidden = !s.error;
  err.textContent = s.error ? "Look not changed: " + s.error : "";
  for (const b of $("gallery").querySelectorAll("button")) {
    b.setAttribute("aria-checked", String((s.weights[b.dataset.look] || 0) >= 0.5));
  }
  if (Date.now() > sliderBusy) {
    $("strength").value = s.strength;
    $("strength-val").textContent = s.strength.toFixed(2);
  }
  const bp = $("bypass");
  bp.setAttribute("aria-pressed", String(s.bypass));
  const f = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  $("s-fps").textContent = f(s.fps_out);
  $("s-lat").textContent = `${f(s.latency_ms.p50, 0)} / ${f(s.latency_ms.p95, 0)} ms`;
  $("s-delay").textContent = `${f(s.added_delay_ms, 0)} ms`;
  $("s-cpu").textContent = s.cpu_percent === null ? "–" : `${f(s.cpu_percent, 0)} %`;
  $("s-drop").textContent = s.dropped;
  $("s-backend").textContent = `${s.backend} ${s.infer_size.join("x")}`;
  renderPeople(s);
  history.push({ t: Date.now(), fps: s.fps_out || 0, p95: s.latency_ms.p95 || 0, cpu: s.cpu_percent || 0 });
  while (history.length && Date.now() - history[0].t > 60000) history.shift();
  drawGraph();
}

const BG_LABELS = { keep: "Keep", blur: "Blur", image: "Image", color: "Colour", transparent: "Transparent" };
let peopleBusy = 0;  // while a people slider is dragged, events do not move it

function renderPeople(s) {
  const sec = $("people");
  const hasBg = (s.background_modes || []).length > 1, hasBeauty = !!s.beauty_available;
  sec.hidden = !(hasBg || hasBeauty);
  if (sec.hidden) return;
  $("bg-group").hidden = !hasBg;
  $("beauty-group").hidden = !hasBeauty;
  const modes = $("bg-modes");
  if (modes.dataset.modes !== s.background_modes.join()) {  // the run's modes never change: build once
    modes.dataset.modes = s.background_modes.join();
    modes.replaceChildren(...s.background_modes.map((m) => {
      const b = document.createElement("button");
      b.type = "button";
      b.setAttribute("role", "radio");
      b.dataset.mode = m;
      b.textContent = BG_LABELS[m] || m;
      b.addEventListener("click", () => command("background", m).catch(showError));
      return b;
    }));
  }
  for (const b of modes.querySelectorAll("button")) b.setAttribute("aria-checked", String(b.dataset.mode === s.background));
  if (Date.now() > peopleBusy) {
    $("blur").value = s.blur;
    $("blur-val").textContent = Number(s.blur).toFixed(2);
    $("bg-color").value = s.background_color;
    $("look-on").value = s.look_on;
    for (const k of ["smooth", "tone", "slim", "eyes"]) {
      $("b-" + k).value = s.beauty[k];
      $("b-" + k + "-val").textContent = Number(s.beauty[k]).toFixed(2);
    }
  }
  const t = $("beauty-toggle");
  t.setAttribute("aria-pressed", String(s.beauty_on));
  t.textContent = s.beauty_on ? "on" : "off";
  $("people-note").textContent = s.background === "keep" ? "" : `background: ${BG_LABELS[s.background] || s.background}`;
}

const timers = {};
function debounced(key, fn) {  // at most one command per slider every 30 ms, the last value wins
  peopleBusy = Date.now() + 800;
  clearTimeout(timers[key]);
  timers[key] = setTimeout(fn, 30);
}

function drawGraph() {
  const c = $("graph");
  const ctx = c.getContext("2d");
  const W = c.width, H = c.height;
  ctx.clearRect(0, 0, W, H);
  ctx.strokeStyle = "#33363e";
  ctx.beginPath(); ctx.moveTo(0, H / 2); ctx.lineTo(W, H / 2); ctx.stroke();
  const now = Date.now();
  const line = (key, max, color) => {
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
    history.forEach((p, i) => {
      const x = W - ((now - p.t) / 60000) * W;
      const y = H - Math.min(1, p[key] / max) * (H - 4) - 2;
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
  };
  const fpsMax = Math.max(30, (state && state.fps_target) || 30) * 1.2;
  line("fps", fpsMax, "#6fd08c");
  line("p95", 100, "#f2a65a");
  line("cpu", 200, "#7aa7ff");
}

function fillLooks(list) {
  looks = list;
  const g = $("gallery");
  g.textContent = "";
  for (const [i, l] of list.entries()) {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "radio");
    b.dataset.look = l.name;
    b.title = `${l.name} (key ${i + 1 <= 9 ? i + 1 : "–"})`;
    if (l.thumbnail) {
      const img = document.createElement("img");
      img.src = l.thumbnail; img.alt = "";
      b.appendChild(img);
    }
    b.appendChild(document.createTextNode(l.name));
    if (l.error) { b.classList.add("broken"); b.title = l.error; }
    b.addEventListener("click", () => command("style", l.name).catch(showError));
    g.appendChild(b);
  }
  for (const id of ["blend-a", "blend-b"]) {
    const sel = $(id);
    sel.textContent = "";
    for (const l of list) sel.add(new Option(l.name, l.name));
  }
  if (list.length > 1) $("blend-b").selectedIndex = 1;
  if (state) render(state);
}

function showError(e) {
  const err = $("look-error");
  err.hidden = false;
  err.textContent = String(e.message || e);
}

async function sendBlend() {
  const a = $("blend-a").value, b = $("blend-b").value, t = Number($("blend").value);
  $("blend-val").textContent = Math.round(t * 100) + " %";
  const weights = {};
  weights[a] = (weights[a] || 0) + (1 - t);
  weights[b] = (weights[b] || 0) + t;
  await command("weights", weights).catch(showError);
}

let strengthTimer = null;
function onStrength() {
  sliderBusy = Date.now() + 800;
  const v = Number($("strength").value);
  $("strength-val").textContent = v.toFixed(2);
  clearTimeout(strengthTimer);
  strengthTimer = setTimeout(() => command("strength", v).catch(showError), 30);
}

async function refreshSnapshot() {
  try {
    const res = await fetch("/api/snapshot.jpg" + (showBefore ? "?which=input" : ""), { headers: auth });
    if (res.ok) {
      const url = URL.createObjectURL(await res.blob());
      const img = $("snapshot");
      const old = img.src;
      img.src = url;
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    }
  } catch (e) { /* the stream may have ended; the connection pill says so */ }
  setTimeout(refreshSnapshot, 500);
}

async function streamEvents() {
  for (;;) {
    let retryMs = 1000;
    try {
      const res = await fetch("/api/events", { headers: auth });
      if (res.status === 503) {  // too many panels open: come back when the server says
        retryMs = 1000 * (Number(res.headers.get("Retry-After")) || 5);
        throw new Error("too many panels open — retrying");
      }
      if (!res.ok) throw new Error(res.status === 401 ? "wrong token — open the URL livestyle printed" : res.statusText);
      setConn(true, "live");
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) render(JSON.parse(data));
        }
      }
      setConn(false, "stream ended");
    } catch (e) {
      setConn(false, String(e.message || e));
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
}

function toggleBefore() {
  showBefore = !showBefore;
  $("before-after").setAttribute("aria-pressed", String(showBefore));
  $("before-after").firstChild.textContent = showBefore ? "Show after " : "Show before ";
  $("view-label").textContent = showBefore ? "before" : "after";
}

function onKey(e) {
  if (e.target.tagName === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) return;
  const name = { ArrowRight: "next-style", ArrowLeft: "prev-style", "+": "strength-up", "=": "strength-up",
                 "-": "strength-down", b: "bypass-toggle", B: "bypass-toggle" }[e.key];
  if (name && !(e.target.type === "range" && e.key.startsWith("Arrow"))) {
    e.preventDefault();
    command(name).catch(showError);
  } else if (e.key === "v" || e.key === "V") {
    toggleBefore();
  } else if (/^[1-9]$/.test(e.key)) {
    command("style-number", Number(e.key)).catch(showError);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("strength").addEventListener("input", onStrength);
  $("blend").addEventListener("input", sendBlend);
  $("blend-a").addEventListener("change", sendBlend);
  $("blend-b").addEventListener("change", sendBlend);
  $("bypass").addEventListener("click", () => command("bypass-toggle").catch(showError));
  $("before-after").addEventListener("click", toggleBefore);
  $("blur").addEventListener("input", () => {
    const v = Number($("blur").value);
    $("blur-val").textContent = v.toFixed(2);
    debounced("blur", () => command("background-blur", v).catch(showError));
  });
  $("bg-color").addEventListener("input", () => {
    const v = $("bg-color").value;
    debounced("color", () => command("background-color", v).catch(showError));
  });
  $("look-on").addEventListener("change", () => command("look-on", $("look-on").value).catch(showError));
  for (const k of ["smooth", "tone", "slim", "eyes"]) {
    $("b-" + k).addEventListener("input", () => {
      const v = Number($("b-" + k).value);
      $("b-" + k + "-val").textContent = v.toFixed(2);
      debounced("beauty-" + k, () => command("beauty", { [k]: v }).catch(showError));
    });
  }
  $("beauty-toggle").addEventListener("click", () => command("beauty-toggle").catch(showError));
  document.addEventListener("keydown", onKey);
  api("/api/state").then(render).catch((e) => setConn(false, String(e.message || e)));
  api("/api/styles").then((d) => fillLooks(d.styles)).catch(showError);
  streamEvents();
  refreshSnapshot();
});
