// The peer of the monitor benchmark: a Node.js broadcast server on the
// ws library, fed the same events the same way (it watches mcpvisord
// through its control socket, as mcpvisor-monitor does) and sending each
// to every client as a monitoring_event, as the monitor does.
//
//   node ws_broadcast.js STATE_DIR PORT
"use strict";
const net = require("net");
const { WebSocketServer } = require(process.env.WS_MODULE || "ws");

const [stateDir, port] = process.argv.slice(2);
const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(port) });
let seq = 0;

const sock = net.connect(stateDir + "/control.sock", () => {
	const body = Buffer.from(JSON.stringify({ verb: "watch" }));
	const hdr = Buffer.from([0x4d, 0x56, 1, 32, 0, 0, 0, 0]);
	hdr.writeUInt32BE(body.length, 4);
	sock.write(Buffer.concat([hdr, body]));
});
let buf = Buffer.alloc(0);
sock.on("data", chunk => {
	buf = Buffer.concat([buf, chunk]);
	while (buf.length >= 8) {
		const len = buf.readUInt32BE(4);
		if (buf.length < 8 + len)
			break;
		const type = buf[3], body = buf.subarray(8, 8 + len);
		buf = buf.subarray(8 + len);
		if (type !== 34)	// events only
			continue;
		const ev = JSON.parse(body);
		const text = JSON.stringify({ type: "monitoring_event", seq: ++seq,
		    data: { event_type: ev.event_type, server_name: ev.server_name ?? null,
		        timestamp: ev.timestamp, deployment_id: ev.deployment_id,
		        message: ev.message, details: ev.details, event_seq: ev.seq } });
		for (const c of wss.clients)
			if (c.readyState === 1)
				c.send(text);
	}
});
sock.on("close", () => process.exit(0));
wss.on("listening", () => console.log("listening"));
