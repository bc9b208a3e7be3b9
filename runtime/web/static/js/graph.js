// Lays out the DAG's tasks in layers with dagre and draws them as SVG, coloured by the chosen run.
"use strict";

var SVG = "http://www.w3.org/2000/svg";
var FILL = { success: "#008000", failed: "#d00000", running: "#01c101", queued: "#808080", scheduled: "#d2b48c",
  up_for_retry: "#ffd700", up_for_reschedule: "#40e0d0", upstream_failed: "#ffa500", skipped: "#ff69b4",
  removed: "#d3d3d3", restarting: "#ee82ee", deferred: "#9370db", none: "#ffffff" };
var DARK = { success: 1, failed: 1, running: 1, queued: 1, deferred: 1 };

function el(name, attrs, parent) {
  var node = document.createElementNS(SVG, name);
  Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  if (parent) { parent.appendChild(node); }
  return node;
}

document.addEventListener("DOMContentLoaded", function () {
  var svg = document.getElementById("graph");
  var island = document.getElementById("graph-data");
  if (!svg || !island || typeof dagre === "undefined") { return; }
  var data = JSON.parse(island.textContent);
  var g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 50, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(function () { return {}; });
  data.nodes.forEach(function (n) {
    var label = n.id + (n.mapped ? " [ ]" : "");
    g.setNode(n.id, { label: label, width: Math.max(90, label.length * 7 + 20), height: 30, data: n });
  });
  data.edges.forEach(function (e) { g.setEdge(e.source, e.target); });
  dagre.layout(g);
  var size = g.graph();
  svg.setAttribute("width", size.width);
  svg.setAttribute("height", size.height);
  svg.setAttribute("viewBox", "0 0 " + size.width + " " + size.height);
  g.edges().forEach(function (e) {
    var pts = g.edge(e).points;
    var d = "M" + pts.map(function (p) { return p.x + "," + p.y; }).join(" L");
    el("path", { d: d, "class": "edge", "marker-end": "url(#arrow)" }, svg);
  });
  var defs = el("defs", {}, svg);
  var marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }, marker);
  var dagId = svg.dataset.dagId, runId = svg.dataset.runId;
  g.nodes().forEach(function (id) {
    var n = g.node(id);
    var state = n.data.state || "none";
    var link = el("a", { href: runId ? "/dags/" + encodeURIComponent(dagId) + "/runs/" + encodeURIComponent(runId) + "/tasks/" + encodeURIComponent(id) : "#" }, svg);
    var group = el("g", { "class": "node s-" + state, "data-task": id, "data-state": state, transform: "translate(" + (n.x - n.width / 2) + "," + (n.y - n.height / 2) + ")" }, link);
    el("rect", { width: n.width, height: n.height, fill: FILL[state] || "#ffffff" }, group);
    var text = el("text", { x: 8, y: 19, fill: DARK[state] ? "#ffffff" : "#101828" }, group);
    text.textContent = n.label;
    var title = el("title", {}, group);
    title.textContent = id + " (" + (n.data.operator || "") + "): " + state;
  });
});
