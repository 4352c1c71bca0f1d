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
// Realtime page: relative times stay current between renders (counted on
// the server's clock), and the map draws the visitors' locations. Points
// arrive as JSON only: the page's #rt-points, then the stream's "points"
// events; names reach the tooltip HTML-escaped.
(function () {
  "use strict";
  function ago(ms) {
    var s = Math.floor(ms / 1000);
    if (s < 5) return "just now";
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 172800) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }
  setInterval(function () {
    document.querySelectorAll("[data-rel-now]").forEach(function (t) {
      if (!t.__seen) t.__seen = Date.now();
      var now = Number(t.getAttribute("data-rel-now")) + (Date.now() - t.__seen);
      t.querySelectorAll("time[data-at]").forEach(function (el) {
        el.textContent = ago(now - Number(el.getAttribute("data-at")));
      });
    });
  }, 5000);

  var scripts = {}, worlds = {};
  function script(src) {
    if (window.echarts) return Promise.resolve();
    if (!scripts[src]) scripts[src] = new Promise(function (ok, fail) {
      var s = document.createElement("script");
      s.src = src; s.onload = ok; s.onerror = fail;
      document.head.appendChild(s);
    });
    return scripts[src];
  }
  function world(url) {
    if (window.echarts.getMap("world")) return Promise.resolve();
    if (!worlds[url]) worlds[url] = fetch(url).then(function (r) { return r.json(); }).then(function (geo) {
      if (!window.echarts.getMap("world")) window.echarts.registerMap("world", geo);
    });
    return worlds[url];
  }
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function draw(el, points) {
    var c = window.echarts.getInstanceByDom(el);
    if (c) c.setOption({ series: [{ data: points }] });
    else el.__points = points;
  }
  function init(el) {
    if (el.__rt) return;
    el.__rt = true;
    var data = document.getElementById("rt-points"), points = [];
    try { points = JSON.parse(data ? data.textContent : "[]"); } catch (e) { points = []; }
    el.__points = points;
    script(el.getAttribute("data-echarts")).then(function () { return world(el.getAttribute("data-world")); }).then(function () {
      if (!document.body.contains(el)) return;
      var ec = window.echarts, chart = ec.init(el);
      chart.setOption({
        tooltip: { trigger: "item", formatter: function (p) {
          var v = p.value || [];
          return ec.format.encodeHTML(p.name || "Unknown") + ": " + (v[2] || 0) + " visitor" + (v[2] === 1 ? "" : "s");
        } },
        geo: { map: "world", roam: false, silent: true, itemStyle: { areaColor: css("--code"), borderColor: css("--border") } },
        series: [{ type: "scatter", coordinateSystem: "geo", data: el.__points,
          symbolSize: function (v) { return Math.min(6 + 4 * Math.sqrt(v[2] || 1), 30); },
          itemStyle: { color: css("--accent"), opacity: 0.8 } }]
      });
    }).catch(function () { el.textContent = "The map could not be loaded."; });
  }
  function scan() { document.querySelectorAll("[data-rt-map]").forEach(init); }
  window.addEventListener("resize", function () {
    if (!window.echarts) return;
    document.querySelectorAll("[data-rt-map]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el);
      if (c) c.resize();
    });
  });
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var el = e.target;
    if (!el.hasAttribute || !el.hasAttribute("data-rt-map")) return;
    e.preventDefault(); // JSON for the chart, not HTML to swap
    try { draw(el, JSON.parse(e.detail.data)); } catch (x) { /* ignore a bad message */ }
  });
})();
// Overview charts: each [data-chart] element carries its ECharts options
// as JSON in data-options (data, never run); ECharts and the world map load
// on first use, as chart pages also arrive by HTMX, which drops scripts
// from answers. data-unit formats values.
(function () {
  "use strict";
  var loading = {};
  function load(src) {
    if (window.echarts) return Promise.resolve();
    if (!loading[src]) loading[src] = new Promise(function (ok, fail) {
      var s = document.createElement("script");
      s.src = src; s.onload = ok; s.onerror = fail;
      document.head.appendChild(s);
    });
    return loading[src];
  }
  function world(url) {
    if (window.echarts.getMap("world")) return Promise.resolve();
    if (!loading[url]) loading[url] = fetch(url).then(function (r) { return r.json(); })
      .then(function (geo) { if (!window.echarts.getMap("world")) window.echarts.registerMap("world", geo); });
    return loading[url];
  }
  function format(unit) {
    return function (v) {
      if (v == null || isNaN(v)) return "–";
      var s = Math.round(v);
      switch (unit) {
        case "percent": return v.toFixed(1) + "%";
        case "decimal": return v.toFixed(2);
        case "money": return (v / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
        case "seconds": return s >= 3600 ? Math.floor(s / 3600) + "h " + Math.floor(s % 3600 / 60) + "m" : s >= 60 ? Math.floor(s / 60) + "m " + (s % 60) + "s" : s + "s";
      }
      return s.toLocaleString("en-US");
    };
  }
  function draw(el) {
    if (el.__drawn) return;
    el.__drawn = true;
    var options;
    try { options = JSON.parse(el.getAttribute("data-options")); } catch (e) { return; }
    load(el.getAttribute("data-echarts")).then(function () {
      if (el.hasAttribute("data-world")) return world(el.getAttribute("data-world"));
    }).then(function () {
      if (!document.body.contains(el)) return;
      var f = format(el.getAttribute("data-unit") || "");
      if (options.tooltip) options.tooltip.valueFormatter = f;
      (options.yAxis || []).forEach(function (a) { a.axisLabel = { formatter: f }; });
      window.echarts.init(el).setOption(options);
      el.setAttribute("data-drawn", "");
    }).catch(function () { el.textContent = "The chart could not be loaded."; });
  }
  function scan(root) {
    if (root.matches && root.matches("[data-chart]")) draw(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-chart]").forEach(draw);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (e) { scan(e.detail.elt); });
  window.addEventListener("resize", function () {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el);
      if (c) c.resize();
    });
  });
})();
