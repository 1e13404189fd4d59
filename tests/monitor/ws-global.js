// Preloaded before the guide's example: Node 20 has no global
// WebSocket, so the ws library's stands in; the example ends after
// SEED_SECONDS (default 10).
"use strict";
globalThis.WebSocket = require("ws");
setTimeout(() => process.exit(0),
    1000 * Number(process.env.SEED_SECONDS || 10)).unref();
// keep the process alive while the example's socket is open
setInterval(() => {}, 1 << 30);
