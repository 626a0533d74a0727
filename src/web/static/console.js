// Opsline pages' shared script: live SLA countdowns (elements with data-due, RFC 3339, and
// data-total, seconds) coloured by risk; the time-zone switch (offers the browser's own zone);
// and an inspection's progress while it runs. Pages work without it.
(function () {
  // Units in the page's language: 1d 2h 3m / 1天 2小时 3分.
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
  var unit = zh ? { d: "天", h: "小时", m: "分", s: "秒" } : { d: "d", h: "h", m: "m", s: "s" };
  function fmt(s) {
    var neg = s < 0; s = Math.abs(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var t = (d ? d + unit.d + " " : "") + (d || h ? h + unit.h + " " : "") + m + unit.m + " " + (d ? "" : r + unit.s);
    return (neg ? "-" : "") + t.trim();
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Math.round(Date.parse(el.dataset.due) / 1000 - now);
      var total = Number(el.dataset.total) || 0;
      el.textContent = fmt(left);
      el.className = "clock " + (left < 0 ? "risk-breached" : total && left < total * 0.2 ? "risk-low" : "risk-running");
    });
  }
  if (document.querySelector("[data-due]")) { tick(); setInterval(tick, 1000); }

  var tz = document.getElementById("tz");
  if (tz) {
    try {
      var mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (mine && !Array.prototype.some.call(tz.options, function (o) { return o.value === mine; })) {
        var o = document.createElement("option"); o.value = mine; o.textContent = mine; tz.appendChild(o);
      }
    } catch (e) { /* an old browser: the listed zones remain */ }
    tz.addEventListener("change", function () { tz.form.submit(); });
  }

  var insp = document.getElementById("inspection-status");
  if (insp && insp.dataset.status === "running") {
    var bar = document.getElementById("progress"), text = document.getElementById("progress-text");
    var poll = function () {
      fetch("/console/inspections/" + insp.dataset.id + "/progress", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          if (bar) { bar.max = p.total; bar.value = p.done; }
          if (text) { text.textContent = p.done + "/" + p.total; }
          if (p.status !== "running") { location.reload(); } else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 500);
  }
})();
