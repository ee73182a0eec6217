// Vigil's live dashboard: polls the instance-ha API (through `vigil dashboard`'s proxy, which
// adds the token) and redraws segments, host health timelines, notifications, gate decisions
// and dead letters. Plain browser JavaScript, no build step; the timelines are SVG drawn here.
"use strict";

const params = new URLSearchParams(window.location.search);
const INTERVAL_MS = Math.max(200, 1000 * Number(params.get("interval") || 2));
const SAMPLES = Math.max(5, Number(params.get("samples") || 40));
const NOTIFICATIONS = 12;
const HEADERS = { "OpenStack-API-Version": "instance-ha 1.4", Accept: "application/json" };
const ACTIVE = new Set(["new", "running", "error"]);
const SVG = "http://www.w3.org/2000/svg";

// ---------------------------------------------------------------- small helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function pill(value) {
  return el("span", { class: `pill ${value || "unknown"}` }, value || "unknown");
}

function short(uuid) {
  return uuid ? uuid.slice(0, 8) : "";
}

function when(stamp) {
  return stamp ? stamp.replace("T", " ").slice(0, 19) : "";
}

async function get(path) {
  const reply = await fetch(path, { headers: HEADERS, cache: "no-store" });
  let body = null;
  const type = reply.headers.get("content-type") || "";
  if (type.includes("json")) body = await reply.json();
  return { status: reply.status, body };
}

async function must(path) {
  const reply = await get(path);
  if (reply.status !== 200) {
    const fault = reply.body && Object.values(reply.body)[0];
    throw new Error(`${path}: ${reply.status} ${(fault && fault.message) || ""}`.trim());
  }
  return reply.body;
}

function replace(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat());
}

// ---------------------------------------------------------------- health timeline (SVG)

const LANES = [
  { key: "ready", label: "Ready" },
  { key: "lease", label: "Lease age" },
  { key: "nova", label: "Nova" },
  { key: "verdict", label: "Verdict" },
  { key: "fenced", label: "Fencing" },
];
const COLOURS = { ok: "#2e9d4f", bad: "#d0342c", warn: "#e3a008", none: "#d5d8dd", fence: "#1f2328" };

function laneColour(key, sample) {
  if (key === "ready") {
    return { True: COLOURS.ok, False: COLOURS.bad, Unknown: COLOURS.warn }[sample.ready] || COLOURS.none;
  }
  if (key === "nova") {
    if (sample.nova_forced_down) return COLOURS.fence;
    return { up: COLOURS.ok, down: COLOURS.bad }[sample.nova_state] || COLOURS.none;
  }
  if (key === "verdict") return { up: COLOURS.ok, down: COLOURS.bad }[sample.verdict] || COLOURS.none;
  if (key === "fenced") return sample.fenced ? COLOURS.fence : null;
  return null;
}

function laneText(key, sample) {
  if (key === "ready") return `Ready ${sample.ready ?? "?"}`;
  if (key === "lease") return `Lease age ${sample.lease_age === null ? "?" : sample.lease_age.toFixed(1) + " s"}`;
  if (key === "nova") return `Nova ${sample.nova_state ?? "?"}${sample.nova_forced_down ? " (forced down)" : ""}`;
  if (key === "verdict") return `verdict ${sample.verdict}`;
  return sample.fenced ? `fenced: ${sample.fenced}` : "no fencing evidence";
}

function timeline(samples) {
  // Oldest on the left; one column per stored sample.
  const ordered = [...samples].reverse();
  const width = 600, left = 64, laneHeight = 13, gap = 3, top = 2;
  const height = top + LANES.length * (laneHeight + gap) + 12;
  const chart = svg("svg", { class: "timeline", viewBox: `0 0 ${width} ${height}`, role: "img" });
  chart.append(svg("title", {}, "health timeline: Ready, Lease age, Nova state, verdict, fencing"));
  if (!ordered.length) {
    chart.append(svg("text", { x: left, y: 20 }, "no health samples yet"));
    return chart;
  }
  const column = (width - left) / Math.max(ordered.length, SAMPLES / 2);
  const leaseMax = Math.max(60, ...ordered.map((s) => s.lease_age || 0));
  LANES.forEach((lane, row) => {
    const y = top + row * (laneHeight + gap);
    chart.append(svg("text", { x: 0, y: y + laneHeight - 3 }, lane.label));
    chart.append(svg("rect", { x: left, y, width: width - left, height: laneHeight, fill: "#f6f8fa" }));
    ordered.forEach((sample, i) => {
      const x = left + i * column;
      let mark;
      if (lane.key === "lease") {
        const age = sample.lease_age;
        if (age === null || age === undefined) return;
        const h = Math.max(1, (laneHeight * Math.min(age, leaseMax)) / leaseMax);
        const colour = sample.ready === "True" ? "#8c959f" : COLOURS.bad;
        mark = svg("rect", { x: x + 0.5, y: y + laneHeight - h, width: Math.max(1, column - 1), height: h, fill: colour });
      } else {
        const colour = laneColour(lane.key, sample);
        if (!colour) return;
        mark = svg("rect", { x: x + 0.5, y, width: Math.max(1, column - 1), height: laneHeight, fill: colour });
      }
      mark.setAttribute("data-lane", lane.key);
      mark.append(svg("title", {}, `${when(sample.sampled_at)}  ${laneText(lane.key, sample)}`));
      chart.append(mark);
    });
  });
  const axis = top + LANES.length * (laneHeight + gap) + 9;
  chart.append(svg("text", { x: left, y: axis }, when(ordered[0].sampled_at).slice(11)));
  chart.append(svg("text", { x: width, y: axis, "text-anchor": "end" }, when(ordered[ordered.length - 1].sampled_at).slice(11)));
  return chart;
}

// ---------------------------------------------------------------- sections

function capacityLine(reply) {
  if (!reply || reply.status === 404) {
    return el("div", { class: "capacity unknown", "data-capacity": "unknown" }, "failover capacity: unknown");
  }
  if (reply.status !== 200 || !reply.body || !reply.body.capacity) {
    return el("div", { class: "capacity unknown", "data-capacity": "unknown" }, `failover capacity: unknown (${reply.status})`);
  }
  const c = reply.body.capacity;
  const needed = c.needed || {};
  const spare = c.spare || {};
  const figures = ["VCPU", "MEMORY_MB", "DISK_GB"]
    .map((k) => `${k} ${spare[k] ?? "?"}/${needed[k] ?? "?"}`)
    .join(", ");
  const words = c.sufficient ? "can absorb" : "cannot absorb";
  return el(
    "div",
    { class: `capacity ${c.sufficient ? "ok" : "short"}`, "data-capacity": c.sufficient ? "sufficient" : "insufficient" },
    `failover capacity: ${words} the loss of ${c.largest_host || "its largest host"} (spare/needed ${figures}; from ${c.source || "?"})`,
  );
}

function hostCard(host, health) {
  const state = host.settled_state || "unknown";
  const tags = [];
  if (host.reserved) tags.push(el("span", { class: "tag" }, "reserved"));
  if (host.on_maintenance) tags.push(el("span", { class: "tag" }, "on maintenance"));
  if (host.fencing_evidence) tags.push(el("span", { class: "tag" }, `fenced: ${host.fencing_evidence}`));
  if (host.pending_transition) tags.push(el("span", { class: "tag" }, `pending: ${host.pending_transition}`));
  if (host.last_reported) tags.push(el("span", { class: "tag" }, `reported ${host.last_reported}`));
  const since = host.settled_since ? `since ${when(host.settled_since)}` : "";
  return el(
    "div",
    { class: "host", "data-host": host.name, "data-state": state },
    el("div", { class: "title" }, el("span", { class: "name" }, host.name), pill(state), el("span", { class: "meta" }, since), tags),
    timeline((health && health.samples) || []),
  );
}

function renderSegments(summary, health, capacity) {
  if (!summary.segments.length) {
    replace("segments", el("div", { class: "empty" }, "no failover segments"));
    return;
  }
  replace(
    "segments",
    summary.segments.map((seg) =>
      el(
        "div",
        { class: "card segment", "data-segment": seg.name },
        el("h3", {}, seg.name, " ", el("span", { class: "meta" }, `${seg.recovery_method} · ${seg.service_type} · ${seg.enabled ? "enabled" : "disabled"} · ${seg.hosts.length} hosts`)),
        capacityLine(capacity.get(seg.uuid)),
        el("div", { class: "hosts" }, seg.hosts.map((h) => hostCard(h, health.get(h.uuid)))),
      ),
    ),
  );
}

function bar(fraction, kind) {
  const percent = Math.round(100 * Math.max(0, Math.min(1, fraction)));
  return el("div", { class: `bar ${kind || ""}` }, el("div", { style: `width: ${percent}%` }));
}

const VMOVE_PROGRESS = { pending: 0, ongoing: 0.5, succeeded: 1, failed: 1, ignored: 1 };

function notificationCard(n, hostNames, detail, vmoves) {
  const payload = n.payload || {};
  const what = payload.event ? `${payload.event}${payload.host_status ? "/" + payload.host_status : ""}` : "";
  const rows = [];
  for (const step of (detail && detail.recovery_workflow_details) || []) {
    const kind = step.state === "SUCCESS" ? "done" : step.state === "FAILURE" ? "bad" : "";
    rows.push(
      el("div", { class: "step-name", "data-step": step.name, "data-state": step.state, "data-progress": step.progress }, step.name),
      bar(step.progress, kind),
      pill(step.state),
    );
    const last = (step.progress_details || []).slice(-1)[0];
    if (last) rows.push(el("div", { class: "detail" }, last.message));
  }
  const moves = vmoves || [];
  for (const move of moves) {
    const kind = move.status === "succeeded" ? "done" : move.status === "failed" ? "bad" : "";
    rows.push(
      el("div", { class: "vmove", "data-vmove": move.instance_name, "data-status": move.status }, `${move.instance_name}  ${move.source_host || ""} → ${move.dest_host || "?"}`),
      bar(VMOVE_PROGRESS[move.status] ?? 0, kind),
      pill(move.status),
    );
  }
  const moved = moves.filter((m) => m.status === "succeeded").length;
  return el(
    "div",
    {
      class: "card notification",
      "data-notification": n.notification_uuid,
      "data-status": n.status,
      "data-moved": moved,
      "data-vmoves": moves.length,
    },
    el(
      "div",
      { class: "title" },
      el("strong", {}, short(n.notification_uuid)),
      pill(n.status),
      el("span", {}, `${n.type} ${hostNames.get(n.source_host_uuid) || short(n.source_host_uuid)} ${what}`),
      el("span", { class: "meta" }, `generated ${when(n.generated_time)}`),
      moves.length ? el("span", { class: "meta" }, `${moved}/${moves.length} servers moved`) : null,
    ),
    rows.length ? el("div", { class: "rows" }, rows) : null,
    n.message ? el("div", { class: "meta" }, n.message) : null,
  );
}

function table(columns, rows, empty) {
  if (!rows.length) return el("div", { class: "empty" }, empty);
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
  );
}

function renderHeader(summary) {
  const m = summary.monitor;
  const age = m.seconds_since_last_sample;
  const monitor = document.getElementById("monitor");
  monitor.textContent =
    age === null ? "monitor: no samples yet" : `monitor: last round ${age.toFixed(0)} s ago`;
  if (m.partition_hold && m.partition_hold.remaining) {
    monitor.textContent += ` · partition hold (${m.partition_hold.remaining} rounds): ${m.partition_hold.reason}`;
  }
  monitor.classList.toggle("stale", age === null || age > 180);
  const counts = Object.entries(summary.notifications_by_status).map(([status, count]) =>
    el("span", {}, pill(status), " ", count),
  );
  counts.push(el("span", {}, `dead letters ${summary.dead_letters}`));
  replace("counts", counts);
}

// ---------------------------------------------------------------- one refresh

// Details of notifications already shown, and each host's health with when and in which
// settled state it was read: a large region's timelines are re-read less often (about 10
// hosts a second), except a host whose state changed, which is re-read at once.
const cache = { details: new Map(), health: new Map(), capacity: new Map() };
// Capacity is computed from Placement and Nova on every request: asked for twice a minute.
const CAPACITY_EVERY_MS = 30000;

function healthDue(host, count) {
  const known = cache.health.get(host.uuid);
  if (!known || known.state !== host.settled_state) return true;
  return Date.now() - known.at >= Math.max(INTERVAL_MS, 100 * count);
}

async function refresh() {
  const [summaryReply, listReply, gatesReply, lettersReply] = await Promise.all([
    must("/v1/summary"),
    must(`/v1/notifications?limit=${NOTIFICATIONS}&sort_key=created_at&sort_dir=desc`),
    must("/v1/gate-decisions?limit=20"),
    must("/v1/dead-letters?limit=20"),
  ]);
  const summary = summaryReply.summary;
  const hosts = summary.segments.flatMap((seg) => seg.hosts.map((h) => [seg, h]));
  const hostNames = new Map(hosts.map(([, h]) => [h.uuid, h.name]));
  const notifications = listReply.notifications;
  const watched = notifications.filter((n, i) => ACTIVE.has(n.status) || i < 4 || !cache.details.has(n.notification_uuid));
  const details = new Map();
  const vmoves = new Map();
  await Promise.all([
    ...hosts
      .filter(([, h]) => healthDue(h, hosts.length))
      .map(async ([seg, h]) => {
        const reply = await get(`/v1/segments/${seg.uuid}/hosts/${h.uuid}/health?limit=${SAMPLES}`);
        if (reply.status === 200) {
          cache.health.set(h.uuid, { at: Date.now(), state: h.settled_state, health: reply.body.health });
        }
      }),
    ...summary.segments
      .filter((seg) => Date.now() - ((cache.capacity.get(seg.uuid) || {}).at || 0) >= CAPACITY_EVERY_MS)
      .map(async (seg) => {
        cache.capacity.set(seg.uuid, { at: Date.now(), reply: await get(`/v1/segments/${seg.uuid}/capacity`) });
      }),
    ...watched.map(async (n) => {
      const [detail, moves] = await Promise.all([
        get(`/v1/notifications/${n.notification_uuid}`),
        get(`/v1/notifications/${n.notification_uuid}/vmoves`),
      ]);
      if (detail.status === 200) details.set(n.notification_uuid, detail.body.notification);
      if (moves.status === 200) vmoves.set(n.notification_uuid, moves.body.vmoves);
    }),
  ]);
  for (const [id, detail] of details) cache.details.set(id, { detail, vmoves: vmoves.get(id) });

  renderHeader(summary);
  const health = new Map([...cache.health].map(([uuid, known]) => [uuid, known.health]));
  const capacity = new Map([...cache.capacity].map(([uuid, known]) => [uuid, known.reply]));
  renderSegments(summary, health, capacity);
  replace(
    "notifications",
    notifications.length
      ? notifications.map((n) => {
          const known = cache.details.get(n.notification_uuid) || {};
          return notificationCard(n, hostNames, known.detail, known.vmoves);
        })
      : el("div", { class: "empty" }, "no notifications"),
  );
  replace(
    "gates",
    table(
      ["when (UTC)", "gate", "hosts", "reason"],
      gatesReply.gate_decisions.map((g) => [when(g.decided_at), g.gate, g.hosts.join(", ") || "all", g.reason]),
      "no gate has held a verdict",
    ),
  );
  replace(
    "deadletters",
    table(
      ["received (UTC)", "type", "subject", "code", "failed destination"],
      lettersReply.dead_letters.map((d) => [when(d.received_at), d.event_type, d.subject || "", d.error_code || "-", d.error_dest || ""]),
      "no dead letters",
    ),
  );
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function loop() {
  const problem = document.getElementById("problem");
  try {
    await refresh();
    problem.hidden = true;
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } catch (exc) {
    problem.hidden = false;
    problem.textContent = `cannot read the instance-ha API: ${exc.message}`;
  }
  window.setTimeout(loop, INTERVAL_MS);
}

loop();
