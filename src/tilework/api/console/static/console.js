// The console's live parts: every element with data-live="NAME" is fetched again as
// ?part=NAME every second while the page is visible and live updates are on; a part the
// server says is final (X-Live: stop) is left alone after. No framework, no build step.
(function () {
  "use strict";
  var PERIOD_MS = 1000;
  var paused = sessionStorage.getItem("tw-live") === "off";

  function partUrl(name) {
    var url = new URL(window.location.href);
    url.hash = "";
    url.searchParams.set("part", name);
    return url.toString();
  }

  function refresh(element) {
    var name = element.getAttribute("data-live");
    return fetch(partUrl(name), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return; }
        if (!response.ok) { return; }
        if (response.headers.get("X-Live") === "stop") { element.removeAttribute("data-live"); }
        return response.text().then(function (html) {
          if (element.innerHTML !== html) { element.innerHTML = html; wire(element); }
        });
      })
      .catch(function () { /* the server may be restarting: try again next tick */ });
  }

  function tick() {
    if (!paused && document.visibilityState === "visible") {
      var live = document.querySelectorAll("[data-live]");
      Promise.all(Array.prototype.map.call(live, refresh)).then(schedule, schedule);
    } else {
      schedule();
    }
  }

  function schedule() { window.setTimeout(tick, PERIOD_MS); }

  // The before/after slider: the input's crop is shown left of the handle.
  function wire(root) {
    var sliders = root.querySelectorAll(".compare input[type=range]");
    Array.prototype.forEach.call(sliders, function (slider) {
      var before = slider.parentElement.querySelector("img.before");
      function place() { before.style.clipPath = "inset(0 " + (100 - slider.value) + "% 0 0)"; }
      slider.addEventListener("input", place);
      place();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("live-toggle");
    if (toggle) {
      var show = function () {
        toggle.textContent = paused ? "Paused" : "Live";
        toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      };
      toggle.addEventListener("click", function () {
        paused = !paused;
        sessionStorage.setItem("tw-live", paused ? "off" : "on");
        show();
      });
      show();
    }
    wire(document);
    schedule();
  });
})();
