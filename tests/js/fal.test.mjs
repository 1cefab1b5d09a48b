// The official `@fal-ai/client` npm client, unchanged, against a real tilework server that
// serves HTTPS. Run by tests/acceptance/test_fal.py (`node --test`), which passes: TILEWORK_URL
// (https://127.0.0.1:port), FAL_KEY (a tenant of the test's own), PHOTO (a 32×24 JPEG), and
// NODE_EXTRA_CA_CERTS, through which Node trusts the server's test CA.
//
// The client builds fal's URLs itself (https://queue.fal.run/…); its documented proxy option
// sends every request to one URL with the intended one in x-fal-target-url, and tilework's
// /fal/proxy answers it. `when: "always"` makes it proxy outside a browser too.
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { test } from "node:test";

import { ApiError, ValidationError, fal } from "@fal-ai/client";

const { TILEWORK_URL, PHOTO } = process.env;
fal.config({ proxyUrl: { url: `${TILEWORK_URL}/fal/proxy`, when: "always" } });

const photo = await readFile(PHOTO);
const photoUri = `data:image/jpeg;base64,${photo.toString("base64")}`;

// The width and height a PNG's header declares.
async function pngSize(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(bytes.subarray(1, 4).toString(), "PNG");
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

for (const mode of ["polling", "streaming"]) {
  test(`subscribe (${mode}) with logs: every update, the logs, the result`, async () => {
    const updates = [];
    let enqueued;
    const result = await fal.subscribe("tilework/resize", {
      input: { image_url: photoUri, width: 16, format: "png" },
      logs: true,
      mode,
      pollInterval: 50,
      onEnqueue: (requestId) => {
        enqueued = requestId;
      },
      onQueueUpdate: (update) => updates.push(update),
    });
    assert.equal(result.requestId, enqueued);
    const [image] = result.data.images;
    assert.deepEqual([image.width, image.height, image.content_type], [16, 12, "image/png"]);
    assert.deepEqual(await pngSize(image.url), [16, 12]);
    const statuses = updates.map((update) => update.status);
    assert.equal(statuses.at(-1), "COMPLETED");
    assert.ok(statuses.every((s) => ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"].includes(s)));
    // Streamed, each update carries the new lines; polled, each carries them all.
    const last = updates.at(-1).logs.map((line) => line.message);
    const all = mode === "streaming" ? updates.flatMap((u) => u.logs ?? []).map((l) => l.message) : last;
    assert.equal(all[0], "started");
    assert.equal(all.at(-1), "succeeded");
  });
}

test("submit, status, the status stream, result", async () => {
  const submitted = await fal.queue.submit("tilework/resize", {
    input: { image_url: photoUri, width: 12, format: "png" },
  });
  assert.equal(submitted.status, "IN_QUEUE");
  const { request_id: requestId } = submitted;
  const stream = await fal.queue.streamStatus("tilework/resize", { requestId, logs: true });
  const seen = [];
  stream.on("data", (status) => seen.push(status.status));
  const final = await stream.done();
  assert.equal(final.status, "COMPLETED");
  assert.equal(seen.filter((s) => s === "COMPLETED").length, 1);
  const status = await fal.queue.status("tilework/resize", { requestId, logs: true });
  assert.equal(status.status, "COMPLETED");
  assert.ok(status.metrics.inference_time >= 0);
  const result = await fal.queue.result("tilework/resize", { requestId });
  assert.equal(result.requestId, requestId);
  assert.deepEqual(await pngSize(result.data.images[0].url), [12, 9]);
});

test("cancel a running request: COMPLETED with error_type canceled, and its result refused", async () => {
  const { request_id: requestId } = await fal.queue.submit("tilework/test_sleep", {
    input: { image_url: photoUri, seconds: 60 },
  });
  for (let tries = 0; tries < 600; tries += 1) {
    const { status } = await fal.queue.status("tilework/test_sleep", { requestId });
    if (status === "IN_PROGRESS") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await fal.queue.cancel("tilework/test_sleep", { requestId });
  const status = await fal.queue.status("tilework/test_sleep", { requestId });
  assert.equal(status.status, "COMPLETED");
  assert.equal(status.error_type, "canceled");
  await assert.rejects(fal.queue.result("tilework/test_sleep", { requestId }), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 400);
    assert.equal(error.body.error_type, "canceled");
    assert.equal(error.requestId, requestId);
    return true;
  });
  await assert.rejects(fal.queue.cancel("tilework/test_sleep", { requestId }), (error) => {
    assert.equal(error.status, 400);
    assert.deepEqual(error.body, { status: "ALREADY_COMPLETED" });
    return true;
  });
});

test("a Blob input: the client uploads it through the storage API, then names its URL", async () => {
  const result = await fal.subscribe("tilework/resize", {
    input: { image_url: new Blob([photo], { type: "image/jpeg" }), width: 8, format: "png" },
  });
  assert.deepEqual(await pngSize(result.data.images[0].url), [8, 6]);
  const url = await fal.storage.upload(new Blob([photo], { type: "image/jpeg" }));
  assert.match(url, new RegExp(`^${TILEWORK_URL}/v1/files/[0-9a-z]{26}$`));
});

test("errors: invalid fields as ValidationError, an unknown model as ApiError", async () => {
  await assert.rejects(
    fal.queue.submit("tilework/resize", { input: { image_url: photoUri, width: -3 } }),
    (error) => {
      assert.ok(error instanceof ValidationError);
      assert.equal(error.status, 422);
      assert.deepEqual(error.fieldErrors[0].loc, ["body", "width"]);
      assert.equal(error.body.error_type, "validation_failed");
      return true;
    },
  );
  await assert.rejects(fal.queue.submit("tilework/paint", { input: { image_url: photoUri } }), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 404);
    assert.match(error.message, /no model tilework\/paint; models are .*tilework\/resize/);
    return true;
  });
});

test("run: fal.run's synchronous call answers with the result", async () => {
  const result = await fal.run("tilework/resize", {
    input: { image_url: photoUri, width: 10, format: "png" },
  });
  assert.ok(result.requestId);
  assert.deepEqual(await pngSize(result.data.images[0].url), [10, 8]);
});

test("a webhook: fal's body, signed with Ed25519, verified from the JWKS document alone", async () => {
  const received = new Promise((resolve) => {
    const receiver = createServer((request, response) => {
      const chunks = [];
      request.on("data", (chunk) => chunks.push(chunk));
      request.on("end", () => {
        response.end();
        receiver.close();
        resolve({ headers: request.headers, body: Buffer.concat(chunks) });
      });
    });
    receiver.listen(0, "127.0.0.1", () => {
      const webhookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
      fal.queue
        .submit("tilework/resize", { input: { image_url: photoUri, width: 4 }, webhookUrl })
        .then((submitted) => assert.ok(submitted.request_id));
    });
  });
  const { headers, body } = await received;
  const { keys } = await (await fetch(`${TILEWORK_URL}/.well-known/jwks.json`)).json();
  const signed = [
    headers["x-fal-webhook-request-id"],
    headers["x-fal-webhook-user-id"],
    headers["x-fal-webhook-timestamp"],
    createHash("sha256").update(body).digest("hex"),
  ].join("\n");
  const signature = Buffer.from(headers["x-fal-webhook-signature"], "hex");
  const verifies = keys.some((jwk) =>
    verify(null, Buffer.from(signed), createPublicKey({ key: jwk, format: "jwk" }), signature),
  );
  assert.ok(verifies, "no key of the JWKS document verifies the webhook");
  assert.ok(Math.abs(Date.now() / 1000 - Number(headers["x-fal-webhook-timestamp"])) < 300);
  const message = JSON.parse(body);
  assert.equal(message.status, "OK");
  assert.equal(message.request_id, headers["x-fal-webhook-request-id"]);
  assert.equal(message.payload.images[0].width, 4);
});
