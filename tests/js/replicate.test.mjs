// The official `replicate` npm client, unchanged, against a real tilework server.
// Run by tests/acceptance/test_js_clients.py (`node --test`), which starts the server and
// passes it here: TILEWORK_URL, TILEWORK_KEY (a tenant of the test's own), PHOTO (a 64×48
// JPEG) and DEPLOYMENT (owner/name of a deployment that resizes to 16 pixels wide, as PNG).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { test } from "node:test";

import Replicate, { validateWebhook } from "replicate";

const { TILEWORK_URL, TILEWORK_KEY, PHOTO, DEPLOYMENT } = process.env;
const replicate = new Replicate({ auth: TILEWORK_KEY, baseUrl: `${TILEWORK_URL}/v1` });
const photo = await readFile(PHOTO);

// The width and height a PNG's header declares.
async function pngSize(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(bytes.subarray(1, 4).toString(), "PNG");
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test("run with a Buffer: the client uploads it with files.create, then runs on its URL", async () => {
  const output = await replicate.run("tilework/resize", {
    input: { image: photo, width: 32, format: "png" },
  });
  assert.equal(typeof output, "string");
  assert.deepEqual(await pngSize(output), [32, 24]);
  const { results } = await replicate.files.list();
  assert.ok(results.some((file) => file.name.startsWith("buffer_") && file.size === photo.length));
});

test("run with a Blob", async () => {
  const blob = new Blob([photo], { type: "image/jpeg" });
  const output = await replicate.run("tilework/resize", {
    input: { image: blob, height: 12, format: "png" },
  });
  assert.deepEqual(await pngSize(output), [16, 12]);
});

test("files: create with metadata, get, list, delete", async () => {
  const file = await replicate.files.create(photo, { project: "p1" });
  assert.equal(file.content_type, "image/jpeg");
  assert.equal(file.size, photo.length);
  assert.deepEqual(file.metadata, { project: "p1" });
  assert.deepEqual((await replicate.files.get(file.id)).checksums, file.checksums);
  assert.ok((await replicate.files.list()).results.some((found) => found.id === file.id));
  assert.equal(await replicate.files.delete(file.id), true);
  await assert.rejects(replicate.files.get(file.id), (error) => error.response.status === 404);
});

test("create, wait, get and cancel", async () => {
  const file = await replicate.files.create(photo);
  let prediction = await replicate.predictions.create({
    model: "tilework/resize",
    input: { image: file.urls.get, width: 8, format: "png" },
  });
  prediction = await replicate.wait(prediction, { interval: 100 });
  assert.equal(prediction.status, "succeeded");
  // The same file; each read signs its URL afresh (the expiry may be a second later).
  const unsigned = (url) => new URL(url).pathname;
  const again = await replicate.predictions.get(prediction.id);
  assert.equal(unsigned(again.output), unsigned(prediction.output));
  assert.deepEqual(await pngSize(prediction.output), [8, 6]);

  const sleeping = await replicate.predictions.create({
    version: "tilework/test_sleep",
    input: { image: file.urls.get, seconds: 60 },
  });
  const canceled = await replicate.predictions.cancel(sleeping.id);
  assert.equal(canceled.status, "canceled");
  assert.equal((await replicate.predictions.get(sleeping.id)).status, "canceled");
});

test("list predictions page by page with paginate", async () => {
  const file = await replicate.files.create(photo);
  const made = [];
  for (let n = 0; n < 3; n += 1) {
    const prediction = await replicate.predictions.create({
      version: "tilework/test_sleep",
      input: { image: file.urls.get, seconds: 0 },
    });
    made.push(prediction.id);
  }
  // A first page of two; paginate follows each page's `next` with the client's own request.
  const firstPage = () => replicate.request("/predictions?limit=2", {}).then((r) => r.json());
  const pages = [];
  for await (const page of replicate.paginate(firstPage)) {
    pages.push(page.map((prediction) => prediction.id));
  }
  assert.ok(pages.length >= 2 && pages.every((page) => page.length <= 2));
  const seen = pages.flat();
  assert.equal(new Set(seen).size, seen.length);
  assert.ok(made.every((id) => seen.includes(id)));
  assert.deepEqual(seen, [...seen].sort().reverse()); // newest first
});

test("a deployment: its preset params, its description", async () => {
  const [owner, name] = DEPLOYMENT.split("/");
  const file = await replicate.files.create(photo);
  let prediction = await replicate.deployments.predictions.create(owner, name, {
    input: { image: file.urls.get },
  });
  prediction = await replicate.wait(prediction, { interval: 100 });
  assert.equal(prediction.status, "succeeded");
  assert.deepEqual(await pngSize(prediction.output), [16, 12]);
  const deployment = await replicate.deployments.get(owner, name);
  assert.equal(deployment.current_release.model, "tilework/resize");
});

test("Cancel-After, sent with the client's request(): past the deadline the prediction is canceled", async () => {
  const file = await replicate.files.create(photo);
  const response = await replicate.request("/models/tilework/test_sleep/predictions", {
    method: "POST",
    data: { input: { image: file.urls.get, seconds: 60 } },
    headers: { "Cancel-After": "1s" },
  });
  const created = await response.json();
  assert.ok(Date.parse(created.deadline) > Date.parse(created.created_at));
  // wait() polls until a status the client knows as final: canceled is one.
  const ended = await replicate.wait(created, { interval: 100 });
  assert.equal(ended.status, "canceled");
});

test("Idempotency-Key, sent with the client's request(): a retried create makes one prediction", async () => {
  const file = await replicate.files.create(photo);
  const send = () =>
    replicate.request("/models/tilework/resize/predictions", {
      method: "POST",
      data: { input: { image: file.urls.get, width: 4 } },
      headers: { "Idempotency-Key": `retry-${file.id}` },
    });
  const first = await send();
  const again = await send();
  assert.equal((await again.json()).id, (await first.json()).id);
  assert.equal(again.headers.get("idempotent-replayed"), "true");
});

test("a webhook, verified with the client's validateWebhook", async () => {
  const received = [];
  const receiver = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
      response.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  try {
    const file = await replicate.files.create(photo);
    const prediction = await replicate.predictions.create({
      model: "tilework/resize",
      input: { image: file.urls.get, width: 8 },
      webhook: `http://127.0.0.1:${receiver.address().port}/hook`,
      webhook_events_filter: ["completed"],
    });
    await replicate.wait(prediction, { interval: 100 });
    for (let waited = 0; received.length === 0 && waited < 30000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(received.length, 1);
    const { key: secret } = await replicate.webhooks.default.secret.get();
    const [{ headers, body }] = received;
    const signed = {
      id: headers["webhook-id"],
      timestamp: headers["webhook-timestamp"],
      signature: headers["webhook-signature"],
      body,
      secret,
    };
    assert.equal(await validateWebhook(signed), true);
    assert.equal(await validateWebhook({ ...signed, body: body.replace("succeeded", "failed") }), false);
    assert.equal(JSON.parse(body).id, prediction.id);
    assert.equal(JSON.parse(body).status, "succeeded");
  } finally {
    receiver.close();
  }
});

test("errors: an unknown model is a 404 the client throws", async () => {
  await assert.rejects(
    replicate.predictions.create({ model: "tilework/nothing", input: { image: "x" } }),
    (error) => error.response.status === 404 && error.message.includes("tilework/upscale"),
  );
});
