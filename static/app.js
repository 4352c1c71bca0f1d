// tally dashboard: the little behaviour HTMX does not cover.
(function () {
  "use strict";
  // Charts (echarts) keep listeners on window: dispose the old ones before
  // HTMX replaces their elements.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!window.echarts || !e.detail.target) return;
    e.detail.target.querySelectorAll("[_echarts_instance_]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el);
      if (c) c.dispose();
    });
  });
  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-copy]");
    if (!b) return;
    var el = document.querySelector(b.getAttribute("data-copy"));
    if (!el || !navigator.clipboard) return;
    navigator.clipboard.writeText(el.textContent).then(function () {
      var t = b.textContent; b.textContent = "Copied"; setTimeout(function () { b.textContent = t; }, 1500);
    });
  });
})();
// Timezone fields start with the browser's own zone.
document.addEventListener("DOMContentLoaded", function () {
  var tz;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  document.querySelectorAll("input[data-timezone]").forEach(function (el) { if (!el.value && tz) el.value = tz; });
});
