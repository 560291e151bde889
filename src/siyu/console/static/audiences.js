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
  var tagNames = {};
  options.groups.forEach(function (g) { g.tags.forEach(function (x) { tagNames[x.id] = x.name; }); });
  var pickers = 0;
  // The tag picker: a search box over the catalogue grouped by tag group, the chosen tags as chips.
  function tagPicker() {
    var id = "tp" + (++pickers);
    var box = el("div", { "class": "tag-picker", "data-k": "tag_ids" });
    var search = el("input", { type: "search", id: id + "-q", placeholder: t.search_tags, "aria-label": t.search_tags, size: "18" });
    var chips = el("ul", { "class": "chips", "aria-label": t.chosen_tags });
    var groups = el("div", { "class": "tag-groups" });
    options.groups.forEach(function (g, gi) {
      var set = el("fieldset", {}, [el("legend", { text: g.name })]);
      g.tags.forEach(function (x) {
        var cid = id + "-t" + x.id;
        var box_ = el("input", { type: "checkbox", id: cid, value: String(x.id), "data-tag": "1" });
        set.appendChild(el("label", { "for": cid, "data-name": (g.name + " " + x.name).toLowerCase() }, [box_, document.createTextNode(" " + x.name)]));
      });
      groups.appendChild(set);
    });
    function redraw() {
      chips.textContent = "";
      groups.querySelectorAll("input[data-tag]:checked").forEach(function (c) {
        var x = el("button", { type: "button", text: "×", "aria-label": t.remove + " " + tagNames[c.value] });
        x.addEventListener("click", function () { c.checked = false; redraw(); changed(); });
        chips.appendChild(el("li", { "data-chip": c.value }, [document.createTextNode(tagNames[c.value] + " "), x]));
      });
    }
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase();
      groups.querySelectorAll("label[data-name]").forEach(function (l) { l.hidden = q !== "" && l.getAttribute("data-name").indexOf(q) < 0; });
      groups.querySelectorAll("fieldset").forEach(function (f) { f.hidden = !f.querySelector("label:not([hidden])"); });
    });
    groups.addEventListener("change", redraw);
    box.appendChild(search); box.appendChild(chips); box.appendChild(groups);
    box.redraw = redraw;
    return box;
  }
  var editors = {
    tags: function () { return [select("match", [["any", t.any], ["all", t.all], ["none", t.none]]), tagPicker()]; },
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
      if (!node.getAttribute("aria-label") && node.tagName !== "DIV") { node.setAttribute("aria-label", typeName + " " + node.getAttribute("data-k")); }
    });
    remove.setAttribute("aria-label", t.remove + " " + typeName);
    remove.addEventListener("click", function () { row.remove(); changed(); });
    list.appendChild(row);
    changed();
    return row;
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
      case "tags": return { type: "tags", match: f("match").value, tag_ids: Array.prototype.map.call(row.querySelectorAll("input[data-tag]:checked"), function (c) { return Number(c.value); }) };
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
        // The last count belongs to another rule: it must not stand next to this one.
        document.getElementById("count").textContent = "—";
        document.getElementById("timing").textContent = "";
        Object.keys(charts).forEach(function (k) { charts[k].clear(); });
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
  // Reopening a saved audience: its rule drawn as rows.
  function choose(selectNode, values) {
    var wanted = values.map(String);
    Array.prototype.forEach.call(selectNode.options, function (o) { o.selected = wanted.indexOf(o.value) >= 0; });
  }
  function setValue(row, k, v) { var n = field(row, k); if (n) { n.value = String(v); } }
  function fill(row, node) {
    switch (node.type) {
      case "tags":
        setValue(row, "match", node.match);
        row.querySelectorAll("input[data-tag]").forEach(function (c) { c.checked = node.tag_ids.indexOf(Number(c.value)) >= 0; });
        row.querySelector(".tag-picker").redraw();
        break;
      case "gender": case "member_tier": choose(field(row, "values"), node.values); break;
      case "age": setValue(row, "min", node.min); setValue(row, "max", node.max); break;
      case "city": setValue(row, "values", node.values.join(",")); break;
      case "birthday_month": choose(field(row, "months"), node.months); break;
      case "home_store": choose(field(row, "store_codes"), node.store_codes); break;
      case "has_guide": setValue(row, "value", node.value ? "true" : "false"); break;
      case "reachable": setValue(row, "via", node.via); break;
      case "consent": setValue(row, "purpose", node.purpose); break;
      case "orders":
        setValue(row, "measure", node.measure); setValue(row, "op", node.op);
        setValue(row, "value", node.measure === "count" ? node.value : node.value / 100);
        setValue(row, "last_days", (node.window || {}).last_days || 90); break;
      case "last_purchase": setValue(row, "op", node.op); setValue(row, "days", node.days); break;
      case "interactions":
        setValue(row, "kinds", node.kinds.join(",")); setValue(row, "op", node.op); setValue(row, "value", node.value);
        setValue(row, "last_days", (node.window || {}).last_days || 30); break;
    }
  }
  var initial = document.getElementById("initial-rule");
  var loaded = initial ? JSON.parse(initial.textContent) : null;
  if (loaded && (loaded.type === "all" || loaded.type === "any")) {
    document.getElementById("combine").value = loaded.type;
    var unsupported = false;
    loaded.of.forEach(function (part) {
      var negated = part.type === "not";
      var node = negated ? part.rule : part;
      if (!editors[node.type]) { unsupported = true; return; }
      var row = addRow(node.type);
      fill(row, node);
      field(row, "negate").checked = negated;
    });
    if (unsupported) {
      // A rule written through the API with nested groups: the builder cannot show every part, so
      // it may not save over it.
      var notice = document.getElementById("rule-error");
      notice.textContent = t.unsupported;
      notice.hidden = false;
      var save = document.getElementById("save-edit");
      if (save) { save.disabled = true; }
    }
    changed();
  } else {
    addRow("gender");
  }
})();
