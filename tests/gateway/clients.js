#!/usr/bin/env node
// MCP clients of the official TypeScript SDK (the one server-everything
// is built on) against a gateway URL. Modes:
//   echo URL SESSIONS CALLS    SESSIONS concurrent sessions, each calling
//                              echo CALLS times with payloads of its own;
//                              every answer must be its own
//   progress URL               two sessions run trigger-long-running-
//                              operation at once: each must see only its
//                              own progress notifications
//   loop URL SECONDS           one session calling echo in a loop,
//                              re-initializing on 404; prints
//                              "calls N failed F"
// Exit 0 when every check held; the failure on stderr otherwise.
'use strict';
const path = require('path');
const modules = process.env.MCP_MODULES ||
    path.join(__dirname, '../../deploy/mcp-servers/node_modules');
const sdk = path.join(modules, '@modelcontextprotocol/sdk/dist/cjs');
const { Client } = require(path.join(sdk, 'client/index.js'));
const { StreamableHTTPClientTransport } =
    require(path.join(sdk, 'client/streamableHttp.js'));

const [mode, url, a, b] = process.argv.slice(2);

async function connect(name) {
	const client = new Client({ name, version: '1.0.0' });
	const transport = new StreamableHTTPClientTransport(new URL(url));
	await client.connect(transport);
	return { client, transport };
}

function text(result) {
	return result.content.map((c) => c.text).join('');
}

async function echo(sessions, calls) {
	const conns = await Promise.all(Array.from({ length: sessions },
	    (_, i) => connect(`echo-${i}`)));
	const ids = new Set(conns.map((c) => c.transport.sessionId));
	if (ids.size !== sessions)
		throw new Error(`${ids.size} distinct session ids for ${sessions}`);
	let answered = 0;
	await Promise.all(conns.map(async ({ client }, i) => {
		for (let k = 0; k < calls; k++) {
			const message = `session ${i} call ${k} ${'x'.repeat(i % 7)}`;
			const r = await client.callTool({ name: 'echo',
			    arguments: { message } });
			if (text(r) !== `Echo: ${message}`)
				throw new Error(`session ${i} got '${text(r)}' for '${message}'`);
			answered++;
		}
	}));
	await Promise.all(conns.map(({ transport }) => transport.terminateSession()));
	console.log(`${sessions} sessions, ${answered} calls, each answered its own`);
}

async function progress() {
	const conns = await Promise.all([connect('p0'), connect('p1')]);
	const seen = [[], []];
	await Promise.all(conns.map(({ client }, i) => client.callTool(
	    { name: 'trigger-long-running-operation',
	      arguments: { duration: 2 + i, steps: 4 + 2 * i } },
	    undefined, { onprogress: (p) => seen[i].push(p.total),
	      timeout: 30000 })));
	// each asked for its own number of steps: the totals tell whose
	// progress a notification was
	if (seen[0].length !== 4 || seen[1].length !== 6 ||
	    seen[0].some((t) => t !== 4) || seen[1].some((t) => t !== 6))
		throw new Error(`progress crossed: ${JSON.stringify(seen)}`);
	console.log(`progress: 4 and 6 notifications, each to its caller`);
	await Promise.all(conns.map(({ transport }) => transport.terminateSession()));
}

async function loop(seconds) {
	const end = Date.now() + seconds * 1000;
	let conn = await connect('loop'), calls = 0, failed = 0, reconnects = 0;
	while (Date.now() < end) {
		try {
			const r = await conn.client.callTool({ name: 'echo',
			    arguments: { message: `n${calls}` } });
			if (text(r) !== `Echo: n${calls}`)
				throw new Error('wrong answer');
			calls++;
		} catch (e) {
			failed++;
			console.error(`call ${calls}: ${e.message}`);
			try { conn = await connect('loop'); reconnects++; } catch (_) {
				await new Promise((r) => setTimeout(r, 200));
			}
		}
	}
	console.log(`calls ${calls} failed ${failed} reconnects ${reconnects}`);
}

(async () => {
	if (mode === 'echo')
		await echo(Number(a), Number(b));
	else if (mode === 'progress')
		await progress();
	else if (mode === 'loop')
		await loop(Number(a));
	else
		throw new Error(`no mode ${mode}`);
	process.exit(0);
})().catch((e) => {
	console.error(`${mode}: ${e.stack || e.message}`);
	process.exit(1);
});
