// Draws each <canvas data-chart> with Chart.js, on page load and in every fragment HTMX swaps in. A click on
// a point or bar opens the customers behind it (the same links as the figures table below the chart).
(function () {
  "use strict";
  var palette = ["#1f5fbf", "#c2571a", "#2a8a4a", "#8a3fb8", "#a3161a", "#5a6472"];

  function draw(canvas) {
    if (canvas.dataset.drawn || typeof Chart === "undefined") return;
    var spec = JSON.parse(canvas.dataset.chart);
    var opts = spec.options || {};
    canvas.dataset.drawn = "1";
    var datasets = spec.datasets.map(function (d, i) {
      return {
        label: d.label,
        data: d.data.map(function (v) { return v === null ? null : Number(v); }),
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        tension: 0.2,
        spanGaps: true
      };
    });
    var tick = opts.percent ? function (v) { return (v * 100).toFixed(1) + " %"; } : undefined;
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: opts.horizontal ? "y" : "x",
        plugins: { legend: { display: datasets.length > 1 } },
        scales: {
          x: { stacked: !!opts.stacked, ticks: opts.horizontal && tick ? { callback: tick } : {} },
          y: { stacked: !!opts.stacked, beginAtZero: true, ticks: !opts.horizontal && tick ? { callback: tick } : {} }
        },
        onClick: function (event, elements) {
          if (!elements.length || !spec.links || !spec.links[elements[0].index]) return;
          window.location.assign(spec.links[elements[0].index]);
        }
      }
    });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(document);
    if (window.htmx) {
      htmx.onLoad(function (el) { drawAll(el); });
    }
  });
})();
