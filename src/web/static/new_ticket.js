// The new-ticket form on a call: find the caller as you type (name, e-mail, phone digits), fill
// in customer and contact; the suggested level and matched phrases, and the quoted deadlines,
// update as the agent types; Ctrl+Enter (or Cmd+Enter) saves.
(function () {
  var form = document.getElementById("new-ticket");
  if (!form) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var find = $("find"), matches = $("matches"), customer = $("customer_id"), contact = $("contact_id");
  var title = $("title"), description = $("description"), level = $("level");
  var timers = {};
  function later(key, fn, ms) { clearTimeout(timers[key]); timers[key] = setTimeout(fn, ms); }
  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }
  function option(select, value, text) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === String(value)) { select.selectedIndex = i; return; }
    }
    var o = document.createElement("option"); o.value = value; o.textContent = text; select.appendChild(o); o.selected = true;
  }
  function loadContacts(customerId, pick) {
    while (contact.options.length > 1) { contact.remove(1); }
    if (!customerId) { return; }
    get("/console/lookup?customer_id=" + encodeURIComponent(customerId)).then(function (r) {
      r.contacts.forEach(function (c) {
        var o = document.createElement("option");
        o.value = c.id; o.textContent = c.name + " · " + c.email + (c.phone ? " · " + c.phone : "");
        contact.appendChild(o);
      });
      if (pick) { option(contact, pick, ""); }
    });
  }
  function choose(customerId, customerName, contactId) {
    option(customer, customerId, customerName);
    loadContacts(customerId, contactId);
    matches.innerHTML = "";
    quote();
  }
  function item(text, onPick) {
    var li = document.createElement("li"), b = document.createElement("button");
    b.type = "button"; b.className = "match"; b.textContent = text;
    b.addEventListener("click", onPick);
    li.appendChild(b); matches.appendChild(li);
  }
  find.addEventListener("input", function () {
    later("find", function () {
      var q = find.value.trim();
      if (q.length < 2) { matches.innerHTML = ""; return; }
      get("/console/lookup?q=" + encodeURIComponent(q)).then(function (r) {
        matches.innerHTML = "";
        r.contacts.forEach(function (c) {
          item(c.name + " · " + (c.phone || c.email) + " — " + c.customer, function () { choose(c.customer_id, c.customer, c.id); });
        });
        r.customers.forEach(function (c) {
          item(c.name + " (" + c.tier + ")", function () { choose(c.id, c.name, null); });
        });
      });
    }, 200);
  });
  customer.addEventListener("change", function () { loadContacts(customer.value); quote(); });

  var suggested = $("suggested-level"), matched = $("matched");
  function classify() {
    get("/console/classify?title=" + encodeURIComponent(title.value) + "&description=" + encodeURIComponent(description.value))
      .then(function (c) {
        suggested.textContent = c.level;
        suggested.className = "lvl lvl-" + c.level;
        matched.textContent = c.matched.length ? "“" + c.matched.join("”, “") + "”" : "";
        quote();
      });
  }
  function quote() {
    var l = level.value || suggested.textContent.trim();
    if (!customer.value || !/^(I|II|III|IV)$/.test(l)) { return; }
    var opened = $("opened").dataset.at;
    get("/console/quote?customer_id=" + encodeURIComponent(customer.value) + "&level=" + l + "&opened_at=" + encodeURIComponent(opened))
      .then(function (q) {
        $("q-response").textContent = q.response; $("q-plan").textContent = q.plan; $("q-resolution").textContent = q.resolution;
      })
      .catch(function () { /* the form still saves; the ticket shows its deadlines */ });
  }
  title.addEventListener("input", function () { later("classify", classify, 250); });
  description.addEventListener("input", function () { later("classify", classify, 250); });
  level.addEventListener("change", quote);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (form.reportValidity()) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
    }
  });
  if (title.value || description.value) { classify(); }
})();
