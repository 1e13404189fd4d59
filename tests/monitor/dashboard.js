// Drives the monitor's dashboard in Debian's chromium (playwright-core):
//
//   node dashboard.js URL SCREENSHOT N [TIMEOUT_MS]
//
// opens the page, waits until it is live, prints "live", then waits until
// a deployment started after that shows N server rows "ready", records
// every state each of its servers was seen in, saves a screenshot, and
// prints a JSON summary. Exit 0 when all N became ready, 1 otherwise.
"use strict";
const { chromium } = require("playwright-core");

const [url, shot, n, timeout] = process.argv.slice(2);

(async () => {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
		args: ["--no-sandbox", "--disable-gpu"],
	});
	let code = 1;
	try {
		const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
		const errors = [];
		page.on("pageerror", e => errors.push(String(e)));
		page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
		await page.goto(url);
		await page.waitForSelector('#link[data-state="live"]', { timeout: 10000 });
		// every state each server row of a deployment started from now
		// on passes through
		await page.evaluate(() => {
			const before = new Set([...document.querySelectorAll("article")]
			    .map(a => a.dataset.deployment));
			window.__seen = {};
			window.__fresh = () => [...document.querySelectorAll("article")]
			    .filter(a => !before.has(a.dataset.deployment));
			setInterval(() => {
				for (const a of window.__fresh())
					for (const tr of a.querySelectorAll("tr[data-server]")) {
						const s = window.__seen[tr.dataset.server] ||= [];
						if (s.at(-1) !== tr.dataset.state)
							s.push(tr.dataset.state);
					}
			}, 20);
		});
		console.log("live");
		await page.waitForFunction(k => window.__fresh().some(a =>
		    a.querySelectorAll('tr[data-state="ready"]').length >= k),
		    Number(n), { timeout: Number(timeout || 30000) });
		// a usage sample or two, for the sparklines
		await page.waitForTimeout(2500);
		await page.screenshot({ path: shot, fullPage: true });
		const summary = await page.evaluate(() => ({
			seen: window.__seen,
			phase: [...document.querySelectorAll("article")].map(a => a.dataset.phase),
			sparkPoints: [...document.querySelectorAll("svg.spark polyline")]
			    .map(p => p.getAttribute("points").split(" ").filter(Boolean).length),
			checks: document.querySelectorAll(".check.pass").length,
		}));
		summary.errors = errors;
		console.log(JSON.stringify(summary));
		code = 0;
	} catch (e) {
		console.error(String(e));
	}
	await browser.close();
	process.exit(code);
})();
