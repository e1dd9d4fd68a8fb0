// Sluice UI: the little that needs script beyond htmx. No inline code anywhere (CSP).
// Keyboard: "/" search, j/k or arrow keys move in the list, Enter opens, "g o" overview.
// A live update replaces a row (or the whole table) with fresh HTML from the server, which
// knows nothing of the cursor or the ticked boxes: both are kept here by row id and put back
// on every row htmx inserts, so an SSE swap never moves the cursor or drops a selection.
(function () {
  var pendingG = false;
  var cursorId = null;
  var selected = {};
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("table.objects tbody tr[id]")); }
  function typing(el) { return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA"); }
  function move(step) {
    var list = rows(); if (!list.length) { return; }
    var at = list.findIndex(function (r) { return r.classList.contains("cursor"); });
    var next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
    if (at >= 0) { list[at].classList.remove("cursor"); }
    list[next].classList.add("cursor");
    cursorId = list[next].id;
    list[next].scrollIntoView({block: "nearest"});
  }
  function restore(row) {
    if (!row.id || row.tagName !== "TR") { return; }
    if (row.id === cursorId) { row.classList.add("cursor"); }
    var box = row.querySelector("input.select");
    if (box && selected[row.id]) { box.checked = true; }
  }
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (!box.matches || !box.matches("input.select")) { return; }
    var row = box.closest("tr[id]");
    if (row) { if (box.checked) { selected[row.id] = true; } else { delete selected[row.id]; } }
  });
  // htmx:load fires on each element a swap inserts: the row itself, or each row of a table.
  document.addEventListener("htmx:load", function (e) {
    var el = e.target;
    if (el.tagName === "TR") { restore(el); }
    else if (el.querySelectorAll) { el.querySelectorAll("tr[id]").forEach(restore); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var q = document.getElementById("q");
    if (typing(document.activeElement)) {
      if (e.key === "Escape") { document.activeElement.blur(); }
      return;
    }
    if (pendingG) {
      pendingG = false;
      if (e.key === "o") { e.preventDefault(); window.location.assign("/"); }
      return;
    }
    if (e.key === "/" && q) { e.preventDefault(); q.focus(); }
    else if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); move(1); }
    else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); move(-1); }
    else if (e.key === "Enter") {
      var row = document.querySelector("table.objects tbody tr.cursor a");
      if (row) { e.preventDefault(); window.location.assign(row.getAttribute("href")); }
    }
    else if (e.key === "g") { pendingG = true; }
  });
})();
document.addEventListener("htmx:sseOpen", function () {
  var live = document.getElementById("live"); if (live) { live.className = "live on"; }
});
document.addEventListener("htmx:sseError", function () {
  var live = document.getElementById("live"); if (live) { live.className = "live off"; }
});
