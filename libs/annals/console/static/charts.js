// The charts page: draw each chart's series with uPlot (from npm, static/vendor); the SVG
// polylines the server rendered stay as the picture without JavaScript and are hidden here.
(function () {
  if (typeof uPlot === "undefined") return;
  const colours = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2"];
  document.querySelectorAll("section.chart").forEach(function (section) {
    const json = section.querySelector("script.chart-data");
    const box = section.querySelector(".uplot-box");
    if (!json || !box) return;
    const data = JSON.parse(json.textContent);
    const series = [{}].concat(data.series.map(function (s, i) {
      return { label: s.label, stroke: colours[i % colours.length], width: 1.5, spanGaps: false };
    }));
    const width = function () { return Math.max(240, box.clientWidth || section.clientWidth); };
    const scales = data.range ? { x: { time: true, range: data.range } } : {};
    const options = { width: width(), height: 180, series: series, scales: scales,
      legend: { live: false } };
    const plot = new uPlot(options,
      [data.x].concat(data.series.map(function (s) { return s.values; })), box);
    section.classList.add("drawn");
    window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 180 }); });
  });
})();
