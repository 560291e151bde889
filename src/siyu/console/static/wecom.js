// Draws the WeCom pages' charts: adds and deletions per day for channel codes, joins / quits /
// messages per day for a customer group. Each chart's series come in its data-series attribute.
(function () {
  function draw() {
    if (!window.echarts) { return; }
    var t = JSON.parse(document.getElementById("wecom-labels").textContent);
    document.querySelectorAll(".chart[data-series]").forEach(function (node) {
      var s = JSON.parse(node.getAttribute("data-series"));
      var names = Object.keys(s).filter(function (k) { return k !== "days"; });
      var chart = window.echarts.init(node);
      chart.setOption({
        tooltip: { renderMode: "richText", trigger: "axis" }, legend: { bottom: 0 },
        xAxis: { type: "category", data: s.days }, yAxis: { type: "value", minInterval: 1 },
        series: names.map(function (k) { return { name: t[k], type: k === "messages" ? "line" : "bar", data: s[k] }; })
      });
      window.addEventListener("resize", function () { chart.resize(); });
      if (window.siyuChartTable) { window.siyuChartTable(node, chart.getOption()); }
    });
    document.body.setAttribute("data-charts", "drawn");
  }
  if (document.readyState === "complete") { draw(); } else { window.addEventListener("load", draw); }
})();
