// The page: it sends the chosen file to its own backend (never to tilework, and it holds no
// key), then follows the job's events through the backend and shows the result's signed URL.
const $ = (id) => document.getElementById(id);

function show(job, type) {
  const { percent, stage, done, total } = job.progress;
  $("progress").value = percent;
  $("status").textContent = `${job.status}${stage ? ` · ${stage}` : ""} · ${done}/${total}`;
  $("log").textContent += `${type} ${job.status} ${percent}%\n`;
  if (job.status === "succeeded" && job.outputs.length) $("result").src = job.outputs[0].url;
  if (job.status === "failed") $("status").textContent = `failed: ${job.error.message}`;
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("image").files[0];
  $("log").textContent = "";
  $("status").textContent = "uploading";
  const response = await fetch(`/api/jobs?preset=${$("preset").value}`, {
    method: "POST",
    body: file,
  });
  const created = await response.json();
  if (!response.ok) {
    $("status").textContent = `refused: ${created.error.code}: ${created.error.message}`;
    return;
  }
  $("status").textContent = `queued · ${created.id}`;
  // EventSource reconnects by itself (with Last-Event-ID) if the connection drops.
  const events = new EventSource(`/api/jobs/${created.id}/events`);
  // Event names as tilework sends them: where the job stands first (queued or running), then
  // its log (started, progress), then how it ended.
  for (const type of ["queued", "running", "started", "progress"]) {
    events.addEventListener(type, (message) => show(JSON.parse(message.data).data, type));
  }
  for (const type of ["succeeded", "failed", "canceled"]) {
    events.addEventListener(type, (message) => {
      show(JSON.parse(message.data).data, type);
      events.close();
    });
  }
});
