// Small behaviours of every page: grid refresh and folding, confirm dialogs, auto-submitting selects.
"use strict";

function foldRows(grid) {
  grid.querySelectorAll("button.fold").forEach(function (button) {
    button.addEventListener("click", function () {
      var id = button.dataset.fold;
      var open = button.getAttribute("aria-expanded") === "true";
      button.setAttribute("aria-expanded", open ? "false" : "true");
      button.textContent = (open ? "▸ " : "▾ ") + id;
      grid.querySelectorAll("tr[data-group]").forEach(function (row) {
        var group = row.dataset.group;
        if (group === id || group.indexOf(id + ".") === 0) { row.classList.toggle("folded", open); }
      });
    });
  });
}

function refreshGrid(box) {
  // While a run is queued or running, fetch the grid again every 2 s (the fold state is kept).
  var body = box.querySelector("#grid-body");
  if (!body || body.dataset.active !== "true") { return; }
  setTimeout(function () {
    fetch(box.dataset.src, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : Promise.reject(r.status);
    }).then(function (html) {
      var folded = Array.prototype.map.call(box.querySelectorAll("button.fold[aria-expanded=false]"),
        function (b) { return b.dataset.fold; });
      box.innerHTML = html;
      foldRows(box);
      folded.forEach(function (id) {
        var b = box.querySelector('button.fold[data-fold="' + CSS.escape(id) + '"]');
        if (b) { b.click(); }
      });
      refreshGrid(box);
    }).catch(function () { setTimeout(function () { refreshGrid(box); }, 5000); });
  }, 2000);
}

document.addEventListener("DOMContentLoaded", function () {
  var grid = document.getElementById("grid");
  if (grid) { foldRows(grid); refreshGrid(grid); }
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm || "Are you sure?")) { event.preventDefault(); }
    });
  });
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
});
