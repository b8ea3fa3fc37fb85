/* matloop dashboard: draws the campaign plots with the vendored uPlot and keeps the page live.
 *
 * The page polls /campaigns/NAME/live.json?since=VERSION every few seconds; when the ledger changed
 * (an instrument posted results, someone asked for a batch or vetoed), the answer carries new plot data
 * and the server-rendered (escaped) tables, which replace the #live region. All user text reaches the
 * page through the server's escaping or through textContent, never as markup built here.
 */
(function () {
  "use strict";
  var body = document.body;
  // an upload over the server's limit is stopped here with a message (the server answers 413 anyway)
  Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-max-bytes]"), function (input) {
    input.addEventListener("change", function () {
      var max = Number(input.getAttribute("data-max-bytes"));
      var file = input.files && input.files[0];
      input.setCustomValidity(file && file.size > max ?
        "This file is over the server's upload limit of " + (max / 1048576).toFixed(1) + " MB." : "");
      input.reportValidity();
    });
  });
  var name = body.getAttribute("data-campaign");
  if (!name || typeof uPlot === "undefined") { return; }  // the campaign page only
  var base = "/campaigns/" + encodeURIComponent(name);
  var version = body.getAttribute("data-version") || "";
  var job = body.getAttribute("data-job") || "";  // a batch being fitted for the "ask for a batch" form
  var refresh = false;  // set when the form's job ends: the next answer's tables replace the page's
  var plots = {};
  var lastData = null;
  var POLL_MS = 2000;
  var COLORS = { best: "#1f6feb", base: "#8a94a6", points: "#e8590c", ideal: "#8a94a6", front: "#e8590c",
                 other: "#8a94a6", bar: "rgba(31,111,235,0.55)" };

  function width(el) { return Math.max(260, el.clientWidth || 320); }
  function height(el) { return Math.round(Math.min(340, Math.max(240, width(el) * 0.62))); }
  function setText(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }
  function fmt(v) { return (v === null || v === undefined) ? "–" : Number(v).toPrecision(4).replace(/\.?0+$/, ""); }

  function dots(label, color) {
    return { label: label, stroke: color, fill: color, paths: function () { return null; },
             points: { show: true, size: 8, space: 0, stroke: color, fill: color } };
  }

  function draw(id, opts, data) {
    var el = document.getElementById(id);
    if (!el) { return; }
    if (plots[id]) { plots[id].destroy(); delete plots[id]; }
    el.textContent = "";
    if (!data[0].length) {
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = "Nothing to plot yet.";
      el.appendChild(p);
      return;
    }
    opts.width = width(el);
    opts.height = height(el);
    opts.scales = opts.scales || {};
    opts.scales.x = opts.scales.x || {};
    opts.scales.x.time = false;
    opts.legend = { live: false };
    plots[id] = new uPlot(opts, data, el);
  }

  function span(lo, hi) {
    if (!isFinite(lo) || !isFinite(hi)) { return [0, 1]; }
    var pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
    return [lo - pad, hi + pad];
  }

  function drawProgress(p) {
    var single = p.kind === "best";
    var series = [{ label: "experiments" },
                  { label: single ? "best so far" : "hypervolume", stroke: COLORS.best, width: 2,
                    paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
                  { label: "random order (expected)", stroke: COLORS.base, width: 1.5, dash: [6, 4],
                    points: { show: false } }];
    var data = [p.x, p.best, p.baseline.map(function (v) { return v === undefined ? null : v; })];
    if (single) { series.push(dots("measured", COLORS.points)); data.push(p.values); }
    draw("plot-progress", { series: series, axes: [{ label: "experiments in the campaign (0 = start)" },
                                                    { label: p.label }] }, data);
    var n = p.x.length ? p.x[p.x.length - 1] : 0;
    setText("cap-progress", p.x.length
      ? (single ? "Best " + p.label + " so far: " + fmt(p.best[p.best.length - 1])
               : "Hypervolume of the measured front (each goal scaled by its measured range): " +
                 fmt(p.best[p.best.length - 1])) +
        " after " + n + " experiment" + (n === 1 ? "" : "s") + "." +
        (p.baseline.slice(1).some(function (v) { return v !== null; })
          ? " Dashed: the same experiments in a random order (expected), the baseline." : "")
      : "Progress appears when results are recorded.");
  }

  function drawParity(q, sfx) {  // one panel per goal: #plot-parity, #plot-parity-1, ...
    var pts = q.points.slice().sort(function (a, b) { return a.measured - b.measured; });
    var xs = pts.map(function (d) { return d.measured; });
    var both = pts.map(function (d) { return d.measured; }).concat(pts.map(function (d) { return d.predicted; }));
    var xRange = span(Math.min.apply(null, both), Math.max.apply(null, both));
    var lo = Math.min.apply(null, pts.map(function (d) { return Math.min(d.low, d.measured); }));
    var hi = Math.max.apply(null, pts.map(function (d) { return Math.max(d.high, d.measured); }));
    var yRange = span(lo, hi);
    var bars = function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = COLORS.bar;
      ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
      pts.forEach(function (d) {
        var x = u.valToPos(d.measured, "x", true);
        ctx.beginPath();
        ctx.moveTo(x, u.valToPos(d.low, "y", true));
        ctx.lineTo(x, u.valToPos(d.high, "y", true));
        ctx.stroke();
      });
      ctx.restore();
    };
    draw("plot-parity" + sfx, {
      scales: { x: { range: function () { return xRange; } }, y: { range: function () { return yRange; } } },
      series: [{ label: "measured" }, { label: "y = x", stroke: COLORS.ideal, dash: [4, 4], points: { show: false } },
               dots("predicted (95% interval)", COLORS.best)],
      axes: [{ label: "measured " + q.label }, { label: "predicted " + q.label }],
      hooks: { draw: [bars] }
    }, [xs, xs, pts.map(function (d) { return d.predicted; })]);
    var inside = pts.filter(function (d) { return d.measured >= d.low && d.measured <= d.high; }).length;
    setText("cap-parity" + sfx, pts.length
      ? q.label + ": measured against the prediction made when each candidate was suggested; bars: 95% intervals. " +
        inside + " of " + pts.length + " measurements fall inside their interval."
      : q.label + ": appears once suggested candidates have been measured.");
  }

  function drawFront(f) {
    if (!f) { return; }
    var xs = f.points.map(function (d) { return d.x; });
    draw("plot-front", {
      series: [{ label: f.x_label }, dots("on the front", COLORS.front), dots("measured", COLORS.other)],
      axes: [{ label: f.x_label }, { label: f.y_label }]
    }, [xs, f.points.map(function (d) { return d.front ? d.y : null; }),
        f.points.map(function (d) { return d.front ? null : d.y; })]);
    var n = f.points.filter(function (d) { return d.front; }).length;
    setText("cap-front", f.points.length ? n + " of " + f.points.length +
            " candidates measured on every goal are on the Pareto front." : "Appears once goals are measured.");
  }

  function render(plotData) {
    lastData = plotData;
    drawProgress(plotData.progress);
    (plotData.parities || [plotData.parity]).forEach(function (q, i) { drawParity(q, i ? "-" + i : ""); });
    drawFront(plotData.front);
  }

  function poll(first) {
    var query = [];
    if (!first) { query.push("since=" + encodeURIComponent(version)); }
    if (job) { query.push("job=" + encodeURIComponent(job)); }
    var url = base + "/live.json" + (query.length ? "?" + query.join("&") : "");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.status === 403 || r.redirected) {
          setText("live-note", "session ended: log in again to see live updates");
          return null;
        }
        return r.ok ? r.json() : null;
      })
      .then(function (d) {
        if (d === null) { return; }
        if (d.job && d.job.status !== "running") {  // the form's fit finished: say so (as text), stop asking
          job = "";
          body.removeAttribute("data-job");
          if (d.job.status === "done") {
            setText("job-note", "The batch of " + d.job.batch + " is ready: see the suggestions below.");
          } else {
            var where = (d.job.problems || []).map(function (p) {
              return "row " + p.row + ", " + p.column + ": " + p.reason;
            });
            setText("job-note", "The batch could not be suggested: " + d.job.detail +
                    (where.length ? " (" + where.join("; ") + ")" : ""));
          }
          var note = document.getElementById("job-note");
          if (note) { note.className = "flash " + (d.job.status === "done" ? "ok" : "bad"); }
          refresh = true;  // whatever the versions say, show the tables as they are now
        }
        if (d.plots) {
          // the first poll also swaps the tables when the ledger moved on since the page was rendered
          // (a batch whose fit finished between the page and its first poll)
          if (d.html !== undefined && (!first || refresh || d.version !== version)) {
            document.getElementById("live").innerHTML = d.html;  // rendered and escaped by the server
            setText("live-note", "updated " + new Date().toLocaleTimeString());
            refresh = false;
          }
          version = d.version;
          body.setAttribute("data-version", version);
          render(d.plots);
        }
        if (refresh) { version = ""; }  // the job ended in an answer without the tables: ask for them all
        window.setTimeout(function () { poll(false); }, POLL_MS);
      })
      .catch(function () { window.setTimeout(function () { poll(false); }, POLL_MS * 3); });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () { if (lastData) { render(lastData); } }, 200);
  });
  poll(true);
})();
