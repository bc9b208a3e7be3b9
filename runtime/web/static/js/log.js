// Shows a try's log and, while the try runs, appends what was written since (polling by byte offset).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var pre = document.getElementById("log");
  if (!pre) { return; }
  var status = document.getElementById("log-status");
  var offset = 0;
  var every = Math.max(0.5, parseFloat(pre.dataset.poll) || 2) * 1000;

  function poll() {
    fetch(pre.dataset.src + "&offset=" + offset, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : Promise.reject(r.status);
    }).then(function (chunk) {
      if (chunk.text) {
        var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.appendChild(document.createTextNode(chunk.text));
        if (atBottom) { pre.scrollTop = pre.scrollHeight; }
      }
      offset = chunk.next_offset;
      if (!chunk.found && !chunk.text) { status.textContent = chunk.live ? "Waiting for the log…" : "No log for this try."; }
      else { status.textContent = chunk.live ? "Following the running try…" : "Try finished (" + (chunk.state || "none") + ")."; }
      if (chunk.live) { setTimeout(poll, every); }
    }).catch(function (code) { status.textContent = "Could not read the log (" + code + ")."; });
  }
  poll();
});
