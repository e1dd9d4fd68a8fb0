// Sluice UI: the little that needs script beyond htmx. No inline code anywhere (CSP).
document.addEventListener("keydown", function (e) {
  var q = document.getElementById("q");
  if (e.key === "/" && q && document.activeElement !== q) { e.preventDefault(); q.focus(); }
});
document.addEventListener("htmx:sseOpen", function () {
  var live = document.getElementById("live"); if (live) { live.className = "live on"; }
});
document.addEventListener("htmx:sseError", function () {
  var live = document.getElementById("live"); if (live) { live.className = "live off"; }
});
