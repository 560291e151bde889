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
    window.siyuChartTable(node, option);
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
  function drawLiability() {
    var node = document.getElementById("liability-data");
    if (!node || !window.echarts) { return false; }
    var d = JSON.parse(node.textContent);
    var t = JSON.parse(document.getElementById("liability-labels").textContent);
    var keys = ["points_value_fen", "sv_principal_fen", "sv_bonus_fen", "membership_deferred_fen"];
    chartOn("chart-liability", {
      tooltip: { renderMode: "richText", trigger: "axis", valueFormatter: function (v) { return "¥" + v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }); } },
      legend: { bottom: 0 },
      xAxis: { type: "category", data: d.dates.map(function (x) { return x.slice(5); }) },
      yAxis: { type: "value", name: "¥" },
      series: keys.map(function (k) { return { name: t[k], type: "bar", stack: "owed", data: d[k].map(function (v) { return v / 100; }) }; })
    });
    return true;
  }
  function draw() {
    if (drawLiability()) { document.body.setAttribute("data-charts", "drawn"); }
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

// The design language's behaviour (docs/console.md): definitions on hover, focus and touch; toasts
// that fade; a confirmation dialog for forms marked data-confirm; the column picker; every chart's
// data as a table.
(function () {
  var body = document.body;
  // --- definitions ---------------------------------------------------------------------------
  var tip = document.getElementById("tip");
  var tipFor = null;
  function showTip(btn) {
    if (!tip) { return; }
    tip.textContent = btn.getAttribute("data-def");
    tip.hidden = false;
    var r = btn.getBoundingClientRect();
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var left = Math.min(Math.max(8, r.left + r.width / 2 - w / 2), window.innerWidth - w - 8);
    var top = r.bottom + 6 + h > window.innerHeight ? r.top - h - 6 : r.bottom + 6;
    tip.style.left = left + "px";
    tip.style.top = Math.max(4, top) + "px";
    tipFor = btn;
  }
  function hideTip() { if (tip) { tip.hidden = true; } tipFor = null; }
  document.addEventListener("mouseover", function (e) {
    var b = e.target.closest ? e.target.closest("button.def") : null;
    if (b) { showTip(b); } else if (tipFor) { hideTip(); }
  });
  document.addEventListener("focusin", function (e) {
    if (e.target.matches && e.target.matches("button.def")) { showTip(e.target); }
  });
  document.addEventListener("focusout", function (e) { if (e.target === tipFor) { hideTip(); } });
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button.def") : null;
    if (b) { e.preventDefault(); if (tipFor === b) { hideTip(); } else { showTip(b); } }
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { hideTip(); } });
  window.addEventListener("scroll", hideTip, true);
  // --- toasts --------------------------------------------------------------------------------
  var toast = document.querySelector("[data-toast]");
  if (toast) { setTimeout(function () { toast.classList.add("gone"); }, 6000); }
  // --- confirmation --------------------------------------------------------------------------
  var dialog = document.getElementById("confirm-dialog");
  var pending = null;
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-confirm") || form.getAttribute("data-confirmed") === "yes") { return; }
    if (!dialog || !dialog.showModal) { return; }
    e.preventDefault();
    pending = { form: form, submitter: e.submitter };
    document.getElementById("confirm-text").textContent = form.getAttribute("data-confirm");
    dialog.showModal();
  });
  if (dialog) {
    dialog.querySelector("[data-confirm-cancel]").addEventListener("click", function () { pending = null; dialog.close(); });
    dialog.querySelector("[data-confirm-ok]").addEventListener("click", function () {
      dialog.close();
      if (!pending) { return; }
      var form = pending.form;
      form.setAttribute("data-confirmed", "yes");
      if (form.requestSubmit) { form.requestSubmit(pending.submitter || undefined); } else { form.submit(); }
      pending = null;
    });
  }
  // --- column picker -------------------------------------------------------------------------
  document.querySelectorAll("details.colpick").forEach(function (picker) {
    var id = picker.getAttribute("data-table");
    var table = document.getElementById(id);
    if (!table) { return; }
    var key = "siyu.columns." + id;
    var hidden = [];
    try { hidden = JSON.parse(localStorage.getItem(key) || "[]"); } catch (err) { hidden = []; }
    function apply() {
      var heads = table.querySelectorAll("thead th");
      heads.forEach(function (th, i) {
        var off = hidden.indexOf(th.getAttribute("data-col")) >= 0;
        th.hidden = off;
        table.querySelectorAll("tbody tr").forEach(function (tr) { if (tr.children[i]) { tr.children[i].hidden = off; } });
      });
    }
    picker.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      box.checked = hidden.indexOf(box.value) < 0;
      box.addEventListener("change", function () {
        hidden = hidden.filter(function (v) { return v !== box.value; });
        if (!box.checked) { hidden.push(box.value); }
        try { localStorage.setItem(key, JSON.stringify(hidden)); } catch (err) { /* private mode */ }
        apply();
      });
    });
    apply();
  });
  // --- every chart as a table ----------------------------------------------------------------
  window.siyuChartTable = function (node, option) {
    var figure = node.closest("figure");
    if (!figure) { return; }
    var series = option.series || [];
    var table = document.createElement("table");
    table.className = "chart-data";
    var head = table.createTHead().insertRow();
    function cell(row, text, tag) { var c = document.createElement(tag || "td"); c.textContent = text; row.appendChild(c); return c; }
    var fmt = function (v) { return typeof v === "number" ? v.toLocaleString(document.documentElement.lang) : String(v); };
    var tb = table.createTBody();
    if (series.length && series[0].type === "pie") {
      cell(head, body.getAttribute("data-l-name"), "th"); cell(head, "%", "th");
      var total = series[0].data.reduce(function (a, d) { return a + d.value; }, 0);
      series[0].data.forEach(function (d) { var r = tb.insertRow(); cell(r, d.name); cell(r, total ? (d.value * 100 / total).toFixed(2) + "%" : "—").className = "num"; });
    } else {
      var y = Array.isArray(option.yAxis) ? option.yAxis[0] : option.yAxis;
      var x = Array.isArray(option.xAxis) ? option.xAxis[0] : option.xAxis;
      var cats = y && y.type === "category" ? y.data : (x || {}).data;
      cell(head, "", "th");
      series.forEach(function (s) { cell(head, s.name || "", "th"); });
      (cats || []).forEach(function (c, i) {
        var r = tb.insertRow(); cell(r, c);
        series.forEach(function (s) { var v = s.data[i]; cell(r, fmt(v && typeof v === "object" ? v.value : v)).className = "num"; });
      });
    }
    var existing = figure.querySelector(".chart-table");
    if (existing) { existing.replaceChildren(table); return; }
    var box = document.createElement("div");
    box.className = "chart-table scroll";
    box.hidden = true;
    box.appendChild(table);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "view-switch";
    button.textContent = body.getAttribute("data-l-table");
    button.addEventListener("click", function () {
      var showTable = box.hidden;
      box.hidden = !showTable; node.hidden = showTable;
      button.textContent = body.getAttribute(showTable ? "data-l-chart" : "data-l-table");
    });
    var caption = figure.querySelector("figcaption");
    if (caption) { caption.appendChild(button); } else { figure.insertBefore(button, node); }
    node.insertAdjacentElement("afterend", box);
  };
})();
