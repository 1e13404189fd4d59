// The mcpvisor dashboard: deployments, servers, health and a sparkline
// of each server's CPU and memory, live from the monitor's WebSocket.
// No build step, no other origin: everything comes from the monitor.
"use strict";

const deployments = new Map();	// id -> latest deployment_update data
const history = new Map();	// "deployment/server" -> {cpu: [], mem: []}
const HISTORY = 60;
let lastSeq = 0;

function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {}))
		e.setAttribute(k, v);
	for (const c of children)
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	return e;
}

function sparkline(values, kind) {
	const ns = "http://www.w3.org/2000/svg";
	const svg = document.createElementNS(ns, "svg");
	svg.setAttribute("class", "spark " + kind);
	svg.setAttribute("viewBox", "0 0 120 24");
	const line = document.createElementNS(ns, "polyline");
	const max = Math.max(1e-9, ...values);
	const step = values.length > 1 ? 120 / (values.length - 1) : 0;
	line.setAttribute("points", values.map((v, i) =>
	    (i * step).toFixed(1) + "," + (23 - 22 * v / max).toFixed(1)).join(" "));
	svg.append(line);
	const title = document.createElementNS(ns, "title");
	title.textContent = kind === "cpu" ?
	    (values.at(-1) ?? 0) + "% CPU" :
	    ((values.at(-1) ?? 0) / 1048576).toFixed(1) + " MiB";
	svg.append(title);
	return svg;
}

// the width through the CSSOM: the page's policy forbids inline styles
function progressBar(percent) {
	const fill = el("div", {});
	fill.style.width = percent + "%";
	return el("div", { class: "bar", role: "progressbar", "aria-valuenow": percent },
	    fill);
}

function render() {
	const main = document.getElementById("deployments");
	main.replaceChildren();
	if (deployments.size === 0)
		main.append(el("p", { class: "empty", id: "empty" }, "No deployment yet."));
	const list = [...deployments.values()].sort((a, b) =>
	    String(b.started_at).localeCompare(String(a.started_at)));
	for (const d of list) {
		const rows = d.servers.map(s => {
			const h = history.get(d.deployment_id + "/" + s.name) || { cpu: [], mem: [] };
			const checks = Object.entries(s.health || {}).map(([name, r]) =>
			    el("span", { class: "check " + (r.healthy ? "pass" : "fail"),
			        title: r.message || "" }, name + " " + r.response_ms + " ms"));
			return el("tr", { "data-server": s.name, "data-state": s.state },
			    el("td", {}, s.name),
			    el("td", { class: "state", "data-state": s.state }, s.state),
			    el("td", {}, s.restarts),
			    el("td", {}, ...checks),
			    el("td", {}, sparkline(h.cpu, "cpu"), " ",
			        h.cpu.length ? h.cpu.at(-1).toFixed(1) + "%" : ""),
			    el("td", {}, sparkline(h.mem, "mem"), " ",
			        h.mem.length ? (h.mem.at(-1) / 1048576).toFixed(1) + " MiB" : ""));
		});
		main.append(el("article", { class: "deployment", "data-deployment": d.deployment_id,
		        "data-phase": d.phase },
		    el("h2", {}, d.deployment || d.deployment_id,
		        el("span", { class: "phase" }, d.phase + " \u00b7 " + d.completed + "/" +
		            d.total + " ready" + (d.failed ? ", " + d.failed + " failed" : "")),
		        el("span", { class: "phase" }, d.deployment_id)),
		    progressBar(d.progress_percentage),
		    el("table", {}, el("thead", {}, el("tr", {},
		        el("th", {}, "server"), el("th", {}, "state"), el("th", {}, "restarts"),
		        el("th", {}, "health"), el("th", {}, "CPU"), el("th", {}, "memory"))),
		        el("tbody", {}, ...rows))));
	}
}

function addEvent(e) {
	const ol = document.getElementById("events");
	const when = String(e.timestamp || "").slice(11, 23);
	ol.prepend(el("li", { class: /failed|crashed/.test(e.event_type) ? "failed" : "" },
	    when + " " + (e.server_name ? e.server_name + ": " : "") + e.event_type +
	    " " + (e.message || "")));
	while (ol.children.length > 200)
		ol.lastChild.remove();
}

function onMessage(msg) {
	if (typeof msg.seq === "number" && msg.seq > lastSeq && !msg.data.snapshot)
		lastSeq = msg.seq;
	document.getElementById("seq").textContent = "message " + lastSeq;
	switch (msg.type) {
	case "deployment_update":
		deployments.set(msg.data.deployment_id, msg.data);
		render();
		break;
	case "monitoring_event":
		addEvent(msg.data);
		break;
	case "metrics": {
		const key = msg.data.deployment_id + "/" + msg.data.server_name;
		let h = history.get(key);
		if (!h || msg.data.history) {
			h = { cpu: [], mem: [] };
			if (msg.data.history) {
				h.cpu = msg.data.history.cpu_usage.slice();
				h.mem = msg.data.history.memory_rss_bytes.slice();
			}
			history.set(key, h);
		}
		if (!msg.data.history) {
			h.cpu.push(msg.data.cpu_usage);
			h.mem.push(msg.data.memory_rss_bytes);
		}
		h.cpu.splice(0, Math.max(0, h.cpu.length - HISTORY));
		h.mem.splice(0, Math.max(0, h.mem.length - HISTORY));
		render();
		break;
	}
	case "gap":
		addEvent({ event_type: "gap", message: "messages " + msg.data.from_seq +
		    "-" + msg.data.to_seq + " were missed (" + msg.data.reason + ")" });
		break;
	}
}

function connect() {
	const link = document.getElementById("link");
	const token = new URLSearchParams(location.search).get("token");
	const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
	    "/?" + (token ? "token=" + encodeURIComponent(token) + "&" : "") +
	    (lastSeq ? "from_seq=" + (lastSeq + 1) : "");
	const ws = new WebSocket(url);
	ws.onopen = () => { link.textContent = "live"; link.dataset.state = "live"; };
	ws.onmessage = ev => onMessage(JSON.parse(ev.data));
	ws.onclose = () => {
		link.textContent = "reconnecting";
		link.dataset.state = "lost";
		setTimeout(connect, 1000);
	};
}

render();
connect();
