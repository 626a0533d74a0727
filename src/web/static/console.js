// Live countdowns for elements with data-due (RFC 3339) and data-total (seconds): text and risk
// colour (running, < 20 % left, breached) update every second, without a page reload.
(function () {
  function fmt(s) {
    var neg = s < 0; s = Math.abs(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var t = (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (d ? "" : r + "s");
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
  tick();
  setInterval(tick, 1000);
})();
