// The engineer's phone (and the portal's signing page): each button is an event with the device's time. An event that cannot be
// sent (no network) is kept on the device and sent when the network is back, still carrying the
// time it was made; the server decides whose clock counts (visits.max_offline).
(function () {
  "use strict";
  var root = document.querySelector("[data-visit-root]");
  if (!root) return;
  var csrf = root.getAttribute("data-csrf");
  var base = root.getAttribute("data-base");
  var sync = document.getElementById("field-sync");
  var KEY = "opsline.field.queue";

  function queue() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(q) { localStorage.setItem(KEY, JSON.stringify(q)); }
  function show(text) {
    if (!sync) return;
    sync.hidden = !text;
    sync.textContent = text || "";
  }

  // Sends one event; resolves true when the server took it (or refused it for good), false when
  // the network is down.
  function send(ev) {
    return fetch(base + ev.visit + "/" + ev.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(ev.body)
    }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (b) {
          var m = (b && b.error && b.error.message) || ("HTTP " + r.status);
          window.alert(m);
          return true;
        });
      }
      return true;
    }, function () { return false; });
  }

  function flush() {
    var q = queue();
    if (!q.length) { show(""); return Promise.resolve(); }
    var ev = q[0];
    return send(ev).then(function (done) {
      if (!done) { show(sync && sync.getAttribute("data-pending") + " (" + q.length + ")"); return; }
      save(queue().slice(1));
      if (queue().length) return flush();
      show(sync && sync.getAttribute("data-sent"));
      window.location.reload();
    });
  }

  function record(visit, action, body) {
    body.device_time = new Date().toISOString();
    var q = queue();
    q.push({ visit: visit, action: action, body: body });
    save(q);
    return flush();
  }

  root.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-action]");
    if (!b) return;
    var card = b.closest("[data-visit]");
    b.disabled = true;
    record(card.getAttribute("data-visit"), b.getAttribute("data-action"), {});
  });

  root.querySelectorAll("form.complete").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      var card = f.closest("[data-visit]");
      var parts = f.elements.parts.value.split("\n").map(function (s) { return s.trim(); })
        .filter(Boolean).map(function (name) { return { name: name, quantity: 1 }; });
      record(card.getAttribute("data-visit"), "complete", {
        work_summary: f.elements.work_summary.value, parts: parts, outcome: f.elements.outcome.value
      });
    });
  });

  root.querySelectorAll("form.sign").forEach(function (f) {
    var c = f.querySelector("canvas");
    var ctx = c.getContext("2d");
    var drawn = false, down = false;
    ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.strokeStyle = "#111";
    function at(e) {
      var r = c.getBoundingClientRect();
      return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height];
    }
    c.addEventListener("pointerdown", function (e) { down = true; var p = at(e); ctx.beginPath(); ctx.moveTo(p[0], p[1]); c.setPointerCapture(e.pointerId); });
    c.addEventListener("pointermove", function (e) { if (!down) return; var p = at(e); ctx.lineTo(p[0], p[1]); ctx.stroke(); drawn = true; });
    c.addEventListener("pointerup", function () { down = false; });
    f.querySelector("[data-clear]").addEventListener("click", function () { ctx.clearRect(0, 0, c.width, c.height); drawn = false; });
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!drawn) { c.focus(); return; }
      var card = f.closest("[data-visit]");
      // A signature is sent at once: it needs the network (the customer can also sign by link).
      send({ visit: card.getAttribute("data-visit"), action: "sign",
             body: { signer: f.elements.signer.value, signature_png: c.toDataURL("image/png") } })
        .then(function (ok) { if (ok) window.location.reload(); else show(sync && sync.getAttribute("data-pending")); });
    });
  });

  window.addEventListener("online", flush);
  setInterval(flush, 15000);
  flush();
})();
