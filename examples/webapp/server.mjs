// A web app's backend in front of tilework, in the shape of the seeds' React apps: the page
// sends an image here, this server submits the job with its own API key (which never reaches
// the page), and relays the job's progress to the page as server-sent events. Node 20, no
// dependencies: `TILEWORK_API_KEY=tw_… node server.mjs`, then open http://127.0.0.1:3000.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";

const TILEWORK_URL = (process.env.TILEWORK_URL ?? "http://127.0.0.1:8000").replace(/\/$/, "");
const API_KEY = process.env.TILEWORK_API_KEY;
const PORT = Number(process.env.PORT ?? 3000);
if (!API_KEY) {
  console.error("set TILEWORK_API_KEY (a key of the tenant this app submits as)");
  process.exit(2);
}
const auth = { authorization: `Bearer ${API_KEY}` };

// What the page may ask for. The page names a preset, never an operation or its params: the
// backend decides what runs on its key (and so what it is charged for).
const PRESETS = {
  upscale2x: { operation: "upscale", params: { scale: 2, model: "lanczos", format: "png" } },
  thumbnail: { operation: "resize", params: { width: 256, format: "webp" } },
};
const MAX_BYTES = 20 << 20;
// The jobs this backend submitted: the page may follow only those.
const submitted = new Set();

const STATIC = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
};

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function tilework(path, init = {}) {
  const response = await fetch(`${TILEWORK_URL}${path}`, {
    ...init,
    headers: { ...auth, ...init.headers },
  });
  const body = await response.json();
  return { status: response.status, body };
}

// POST /api/jobs?preset=…, the image's bytes as the body: upload, then submit.
async function createJob(req, res, url) {
  const preset = PRESETS[url.searchParams.get("preset") ?? "upscale2x"];
  if (!preset) {
    return send(res, 422, { error: { code: "validation_failed", message: "unknown preset" } });
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BYTES) {
    return send(res, 413, { error: { code: "payload_too_large", message: "image too large" } });
  }
  // The body streams through to tilework, which checks that it is an image.
  const upload = await tilework("/v1/uploads", {
    method: "POST",
    body: req,
    duplex: "half",
    headers: { "content-type": "application/octet-stream" },
  });
  if (upload.status !== 201) return send(res, upload.status, upload.body);
  const job = await tilework("/v1/jobs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...preset, input: { key: upload.body.key } }),
  });
  if (job.status !== 201 && job.status !== 200) return send(res, job.status, job.body);
  submitted.add(job.body.id);
  send(res, 201, { id: job.body.id, status: job.body.status });
}

// GET /api/jobs/{id}/events: tilework's event stream, relayed as it comes.
async function relayEvents(req, res, id) {
  if (!submitted.has(id)) {
    return send(res, 404, { error: { code: "not_found", message: "no such job here" } });
  }
  const aborted = new AbortController();
  req.on("close", () => aborted.abort());
  const headers = { ...auth, accept: "text/event-stream" };
  if (req.headers["last-event-id"]) headers["last-event-id"] = req.headers["last-event-id"];
  let upstream;
  try {
    upstream = await fetch(`${TILEWORK_URL}/v1/jobs/${encodeURIComponent(id)}/events`, {
      headers,
      signal: aborted.signal,
    });
  } catch {
    return send(res, 502, { error: { code: "unavailable", message: "tilework unreachable" } });
  }
  res.writeHead(upstream.status, {
    "content-type": upstream.headers.get("content-type") ?? "text/event-stream",
    "cache-control": "no-cache",
  });
  Readable.fromWeb(upstream.body)
    .on("error", () => res.end())
    .pipe(res);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  try {
    if (req.method === "GET" && STATIC[url.pathname]) {
      const [file, type] = STATIC[url.pathname];
      res.writeHead(200, { "content-type": type });
      return res.end(await readFile(new URL(`./public/${file}`, import.meta.url)));
    }
    if (req.method === "POST" && url.pathname === "/api/jobs") return await createJob(req, res, url);
    const events = url.pathname.match(/^\/api\/jobs\/([\w-]+)\/events$/);
    if (req.method === "GET" && events) return await relayEvents(req, res, events[1]);
    send(res, 404, { error: { code: "not_found", message: "no such route" } });
  } catch (error) {
    console.error(error);
    if (!res.headersSent) send(res, 502, { error: { code: "unavailable", message: String(error) } });
    else res.end();
  }
});

server.listen(PORT, "127.0.0.1", () => {
  console.log(`webapp on http://127.0.0.1:${PORT} (tilework at ${TILEWORK_URL})`);
});
