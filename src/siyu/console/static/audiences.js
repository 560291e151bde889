// The audience builder: edits a rule (all/any of condition rows, each may be negated), asks the server
// for the live size after every change, and draws the breakdown by store and tier with ECharts.
(function () {
  var options = JSON.parse(document.getElementById("builder-options").textContent);
  var t = JSON.parse(document.getElementById("builder-labels").textContent);
  var list = document.getElementById("conditions");
  var timer = null;
  var seq = 0;
  var charts = {};

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function select(name, items, multiple) {
    var s = el("select", multiple ? { "data-k": name, multiple: "multiple", size: "4" } : { "data-k": name });
    items.forEach(function (i, n) {
      var o = el("option", { value: i[0], text: i[1] });
      if (multiple && n === 0) { o.selected = true; }
      s.appendChild(o);
    });
    return s;
  }
  function input(name, attrs) {
    var a = { "data-k": name, size: "8" };
    Object.keys(attrs || {}).forEach(function (k) { a[k] = attrs[k]; });
    return el("input", a);
  }
  function ops() { return select("op", [">=", ">", "<=", "<", "=", "!="].map(function (o) { return [o, o]; })); }
  function tagOptions() {
    var items = [];
    options.groups.forEach(function (g) { g.tags.forEach(function (x) { items.push([String(x.id), g.name + " · " + x.name]); }); });
    return items;
  }
  var editors = {
    tags: function () { return [select("match", [["any", t.any], ["all", t.all], ["none", t.none]]), select("tag_ids", tagOptions(), true)]; },
    gender: function () { return [select("values", [["female", t.female], ["male", t.male], ["unknown", t.unknown]], true)]; },
    age: function () { return [el("span", { text: t.min }), input("min", { value: "25", inputmode: "numeric", size: "3" }), el("span", { text: t.max }), input("max", { value: "40", inputmode: "numeric", size: "3" }), el("span", { text: t.years })]; },
    city: function () { return [input("values", { placeholder: t.cities, value: options.cities.slice(0, 2).join(","), size: "24" })]; },
    birthday_month: function () { return [select("months", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(function (m) { return [String(m), String(m)]; }), true)]; },
    member_tier: function () { return [select("values", options.tiers.map(function (x) { return [x, x]; }), true)]; },
    home_store: function () { return [select("store_codes", options.stores.map(function (s) { return [s.code, s.code + " " + s.name]; }), true)]; },
    has_guide: function () { return [select("value", [["true", t.yes], ["false", t.no]])]; },
    reachable: function () { return [select("via", [["wecom", t.wecom], ["phone", t.phone], ["official_account", t.official_account]])]; },
    consent: function () { return [select("purpose", options.purposes.map(function (p) { return [p, p]; }))]; },
    orders: function () {
      return [select("measure", [["gmv_fen", t.gmv_fen], ["count", t.count], ["aov_fen", t.aov_fen]]), ops(), input("value", { value: "500", inputmode: "decimal" }),
        el("span", { text: t.last_days }), input("last_days", { value: "90", inputmode: "numeric", size: "4" })];
    },
    last_purchase: function () { return [ops(), input("days", { value: "180", inputmode: "numeric", size: "4" }), el("span", { text: t.days })]; },
    interactions: function () {
      return [input("kinds", { placeholder: t.kinds, value: "new_fan", size: "18" }), ops(), input("value", { value: "1", inputmode: "numeric", size: "3" }),
        el("span", { text: t.last_days }), input("last_days", { value: "30", inputmode: "numeric", size: "4" })];
    }
  };

  function addRow(type) {
    var typeName = document.querySelector('#add-type option[value="' + type + '"]').textContent;
    var neg = el("input", { type: "checkbox", "data-k": "negate", "aria-label": t.not });
    var remove = el("button", { type: "button", text: t.remove });
    var row = el("li", { "data-type": type }, [el("label", {}, [neg, document.createTextNode(" " + t.not)]), el("strong", { text: typeName })].concat(editors[type]()).concat([remove]));
    Array.prototype.forEach.call(row.querySelectorAll("[data-k]"), function (node) {
      if (!node.getAttribute("aria-label")) { node.setAttribute("aria-label", typeName + " " + node.getAttribute("data-k")); }
    });
    remove.setAttribute("aria-label", t.remove + " " + typeName);
    remove.addEventListener("click", function () { row.remove(); changed(); });
    list.appendChild(row);
    changed();
  }
  function field(row, k) { return row.querySelector('[data-k="' + k + '"]'); }
  function picked(s) { return Array.prototype.filter.call(s.options, function (o) { return o.selected; }).map(function (o) { return o.value; }); }
  function words(v) { return v.split(/[,，\s]+/).filter(function (x) { return x; }); }
  function num(v) { var n = Number(v); return isFinite(n) ? n : v; }
  function yuanToFen(v) { return Math.round(Number(v) * 100); }

  function leaf(row) {
    var type = row.getAttribute("data-type");
    var f = function (k) { return field(row, k); };
    switch (type) {
      case "tags": return { type: "tags", match: f("match").value, tag_ids: picked(f("tag_ids")).map(Number) };
      case "gender": return { type: "gender", values: picked(f("values")) };
      case "age": return { type: "age", min: num(f("min").value), max: num(f("max").value) };
      case "city": return { type: "city", values: words(f("values").value) };
      case "birthday_month": return { type: "birthday_month", months: picked(f("months")).map(Number) };
      case "member_tier": return { type: "member_tier", values: picked(f("values")) };
      case "home_store": return { type: "home_store", store_codes: picked(f("store_codes")) };
      case "has_guide": return { type: "has_guide", value: f("value").value === "true" };
      case "reachable": return { type: "reachable", via: f("via").value };
      case "consent": return { type: "consent", purpose: f("purpose").value };
      case "orders":
        var measure = f("measure").value;
        return { type: "orders", window: { last_days: num(f("last_days").value) }, measure: measure, op: f("op").value,
          value: measure === "count" ? num(f("value").value) : yuanToFen(f("value").value) };
      case "last_purchase": return { type: "last_purchase", op: f("op").value, days: num(f("days").value) };
      case "interactions": return { type: "interactions", window: { last_days: num(f("last_days").value) }, kinds: words(f("kinds").value), op: f("op").value, value: num(f("value").value) };
    }
    return null;
  }
  function rule() {
    var parts = Array.prototype.map.call(list.children, function (row) {
      var node = leaf(row);
      return field(row, "negate").checked ? { type: "not", rule: node } : node;
    });
    return { type: document.getElementById("combine").value, of: parts };
  }

  function bar(id, rows) {
    if (!window.echarts) { return; }
    var node = document.getElementById(id);
    charts[id] = charts[id] || window.echarts.init(node);
    charts[id].setOption({
      tooltip: { renderMode: "richText", trigger: "axis" },
      grid: { left: 120, right: 20, top: 10, bottom: 30 },
      xAxis: { type: "value", name: t.customers, minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: rows.map(function (r) { return r.label; }) },
      series: [{ type: "bar", name: t.customers, data: rows.map(function (r) { return r.count; }) }]
    }, true);
    if (window.siyuChartTable) { window.siyuChartTable(node, charts[id].getOption()); }
  }
  function show(result) {
    document.getElementById("count").textContent = result.count.toLocaleString(t.lang === "en" ? "en-US" : "zh-CN");
    document.getElementById("timing").textContent = result.elapsed_ms.toFixed(1) + " ms";
    document.getElementById("rule-error").hidden = true;
    bar("chart-stores", result.by_store.slice(0, 15));
    bar("chart-tiers", result.by_tier);
    document.body.setAttribute("data-preview", "ready");
  }
  function refresh() {
    var current = rule();
    var text = JSON.stringify(current);
    document.getElementById("rule-json").textContent = JSON.stringify(current, null, 2);
    var fieldNode = document.getElementById("rule-field");
    if (fieldNode) { fieldNode.value = text; }
    if (!current.of.length) { document.getElementById("count").textContent = "—"; return; }
    var mine = ++seq;
    document.body.setAttribute("data-preview", "loading");
    var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
    fetch("/audiences/preview", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify({ rule: current }), credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (answer) {
        if (mine !== seq) { return; }
        if (answer.ok) { show(answer.body); return; }
        var box = document.getElementById("rule-error");
        var details = (answer.body.error.details || []).map ? (answer.body.error.details || []).map(function (d) { return d.path + ": " + d.message; }).join("; ") : "";
        box.textContent = t.error + " — " + answer.body.error.message + (details ? " (" + details + ")" : "");
        box.hidden = false;
        document.body.setAttribute("data-preview", "error");
      });
  }
  function changed() { clearTimeout(timer); timer = setTimeout(refresh, 250); }

  document.getElementById("add").addEventListener("click", function () { addRow(document.getElementById("add-type").value); });
  document.getElementById("builder").addEventListener("change", function (e) { if (e.target.id !== "add-type") { changed(); } });
  document.getElementById("builder").addEventListener("input", function (e) { if (e.target.tagName === "INPUT") { changed(); } });
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  addRow("gender");
})();
