// tally dashboard: the little behaviour HTMX does not cover.
(function () {
  "use strict";
  // Mark the current navigation entry after an HTMX navigation swapped
  // only <main>.
  function markNav() {
    var here = location.pathname;
    document.querySelectorAll("[data-nav] a").forEach(function (a) {
      if (a.getAttribute("href") === here) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
  }
  // Charts (echarts) keep listeners on window: dispose the old ones before
  // HTMX replaces their elements.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!window.echarts || !e.detail.target) return;
    e.detail.target.querySelectorAll("[_echarts_instance_]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el);
      if (c) c.dispose();
    });
  });
  document.addEventListener("htmx:afterSettle", markNav);
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
