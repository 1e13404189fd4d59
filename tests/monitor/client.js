// A WebSocket client of mcpvisor-monitor for the tests and the benchmark.
//
//   node client.js URL [--out FILE] [--until-event TYPE] [--until-count N]
//       [--until-phase PHASE]
//       [--timeout MS] [--stall] [--bearer TOKEN] [--clients N]
//
// Writes every message received (NDJSON) to --out; ends when a
// monitoring_event of TYPE arrives, or a (live) deployment_update in
// PHASE, or N messages per client did, or at --timeout;
// exits 0 when the condition was met (or, with --stall, when the time
// is up), 1 otherwise, 2 when it could not connect. --stall connects and
// then reads nothing. --clients N opens N connections (one --out: the
// first's). With --latency, prints the p50/p99 of (receive time -
// details.emitted_ns) of synthetic events as JSON.
"use strict";
const WebSocket = require("ws");
const fs = require("fs");

const args = process.argv.slice(2);
const url = args[0];
const opt = (name, def) => {
	const i = args.indexOf(name);
	return i < 0 ? def : args[i + 1];
};
const flag = name => args.includes(name);
const out = opt("--out") ? fs.createWriteStream(opt("--out")) : null;
const untilEvent = opt("--until-event");
const untilPhase = opt("--until-phase");
const untilCount = Number(opt("--until-count", 0));
const timeout = Number(opt("--timeout", 30000));
const stall = flag("--stall");
const clients = Number(opt("--clients", 1));
const bearer = opt("--bearer");
const latency = flag("--latency");
const untilSynthetic = Number(opt("--until-synthetic", 0));
let done = false, open = 0, received = 0, finished = 0;
// per client: the seq expected next; jumps a gap marker does not explain
let gaps = 0, unexplained = 0;
const lat = [];

function finish(code) {
	if (done)
		return;
	done = true;
	if (process.env.CLIENT_DEBUG)
		console.error(JSON.stringify({ code, received, gaps, unexplained }));
	if (latency) {
		lat.sort((a, b) => a - b);
		const q = p => lat.length ? lat[Math.min(lat.length - 1,
		    Math.floor(p * lat.length))] : null;
		console.log(JSON.stringify({ clients, received, gaps, unexplained,
		    samples: lat.length, p50_ms: q(0.5), p99_ms: q(0.99),
		    max_ms: lat.at(-1) ?? null }));
	}
	const end = () => process.exit(code);
	if (out)
		out.end(end);
	else
		end();
}

setTimeout(() => finish(stall ? 0 : 1), timeout);
for (let i = 0; i < clients; i++) {
	let expect = 0, last = false;
	const ws = new WebSocket(url, bearer ?
	    { headers: { Authorization: "Bearer " + bearer } } : {});
	ws.on("open", () => {
		open++;
		if (stall)
			ws._socket.pause();	// reads nothing from now on
	});
	ws.on("unexpected-response", (req, res) => {
		console.error("refused: HTTP " + res.statusCode);
		finish(2);
	});
	ws.on("error", e => {
		if (!open) {
			console.error("cannot connect: " + e.message);
			finish(2);
		}
	});
	ws.on("message", data => {
		// past the end: writing now would fail the output stream and
		// lose what it still buffers
		if (done)
			return;
		received++;
		const now = performance.timeOrigin + performance.now();
		const text = data.toString();
		if (i === 0 && out)
			out.write(text + "\n");
		// fields by pattern, not by parsing: the harness must cost the
		// servers it measures as little as it can
		if (text.startsWith('{"type":"gap"')) {
			gaps++;
			expect = Number(/"to_seq":(\d+)/.exec(text)[1]) + 1;
		} else if (!text.includes('"snapshot":true')) {
			const seq = Number(/"seq":(\d+)/.exec(text)[1]);
			// live messages follow one another, or a gap marker says
			// what was skipped
			if (expect && seq !== expect)
				unexplained++;
			expect = seq + 1;
		}
		const syn = text.includes('"event_type":"synthetic"') ?
		    /"index":(\d+),"emitted_ns":([0-9.e+]+)/.exec(text) : null;
		if (syn && latency)
			lat.push(now - Number(syn[2]) / 1e6);
		if (untilSynthetic && syn && !last &&
		    Number(syn[1]) === untilSynthetic - 1) {
			last = true;
			if (++finished === clients)
				finish(0);
		}
		if (untilEvent || untilPhase) {
			const msg = JSON.parse(text);
			if (untilEvent && msg.type === "monitoring_event" &&
			    msg.data.event_type === untilEvent)
				finish(0);
			if (untilPhase && msg.type === "deployment_update" &&
			    !msg.data.snapshot && msg.data.phase === untilPhase)
				finish(0);
		}
		if (untilCount && received >= untilCount * clients)
			finish(0);
	});
}
