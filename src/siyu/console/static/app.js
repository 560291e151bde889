// The console's page behaviour (no inline scripts: the Content-Security-Policy allows none).
// Every htmx request carries the page's CSRF token; the store picker on the daily report navigates.
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.addEventListener("htmx:configRequest", function (e) {
    if (meta) { e.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var picker = document.querySelector("select[data-store-picker]");
    if (picker) {
      picker.addEventListener("change", function () {
        location.href = "/stores/" + encodeURIComponent(picker.value) + "/daily?date=" + encodeURIComponent(picker.getAttribute("data-date"));
      });
    }
  });
})();
// Draws the store daily report's charts with ECharts when the page carries chart data.
(function () {
  function chartOn(id, option) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var c = window.echarts.init(node);
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
  }
  function drawTrend() {
    var node = document.getElementById("trend-data");
    if (!node || !window.echarts) { return false; }
    var d = JSON.parse(node.textContent);
    var t = JSON.parse(document.getElementById("chart-labels").textContent);
    var days = d.dates.map(function (x) { return x.slice(5); });
    chartOn("chart-trend", {
      tooltip: { renderMode: "richText", trigger: "axis" }, legend: { bottom: 0 },
      xAxis: { type: "category", data: days },
      yAxis: [{ type: "value", name: "¥" }, { type: "value", name: t.orders }],
      series: [
        { name: t.gmv, type: "bar", data: d.gmv_fen.map(function (v) { return v / 100; }) },
        { name: t.orders, type: "line", yAxisIndex: 1, data: d.orders }
      ]
    });
    chartOn("chart-growth", {
      tooltip: { renderMode: "richText", trigger: "axis" }, legend: { bottom: 0 },
      xAxis: { type: "category", data: days }, yAxis: { type: "value" },
      series: [
        { name: t.new_customers, type: "line", data: d.new_customers },
        { name: t.new_member_cards, type: "line", data: d.new_member_cards }
      ]
    });
    return true;
  }
  function draw() {
    if (drawTrend()) { document.body.setAttribute("data-charts", "drawn"); }
    var dataNode = document.getElementById("chart-data");
    if (!dataNode || !window.echarts) { return; }
    var data = JSON.parse(dataNode.textContent);
    var t = JSON.parse(document.getElementById("chart-labels").textContent);
    var en = t.lang === "en";
    var chart = chartOn;
    function pie(id, items) {
      chart(id, {
        tooltip: { renderMode: "richText", trigger: "item", valueFormatter: function (v) { return v.toFixed(2) + "%"; } },
        legend: { bottom: 0 },
        // Each slice labelled with its share only (names in the legend): names were cut off on narrower screens.
        series: [{ type: "pie", radius: ["40%", "70%"], label: { formatter: "{d}%" }, data: items.map(function (i) { return { name: t[i.name], value: i.value }; }) }]
      });
    }
    pie("chart-placement", data.placement);
    pie("chart-hours", data.hours);
    chart("chart-channels", {
      tooltip: { renderMode: "richText", trigger: "axis", valueFormatter: function (v) { return "¥" + v.toFixed(2); } },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: data.channels.map(function (c) { return en ? c.name_en : c.name; }) },
      grid: { left: 110, right: 20, top: 10, bottom: 30 },
      series: [{ type: "bar", data: data.channels.map(function (c) { return c.value; }) }]
    });
    chart("chart-hourly", {
      tooltip: { renderMode: "richText", trigger: "axis" },
      legend: { bottom: 0 },
      xAxis: { type: "category", data: data.hourly.map(function (h) { return String(h.hour).padStart(2, "0") + ":00"; }) },
      yAxis: [{ type: "value", name: t.orders }, { type: "value", name: t.visitors }],
      series: [
        { name: t.orders, type: "bar", data: data.hourly.map(function (h) { return h.orders; }) },
        { name: t.visitors, type: "line", yAxisIndex: 1, data: data.hourly.map(function (h) { return h.visitors; }) }
      ]
    });
    document.body.setAttribute("data-charts", "drawn");
  }
  if (document.readyState === "complete") { draw(); } else { window.addEventListener("load", draw); }
})();
