// Similar cases while someone types: resolved tickets and knowledge-base articles like the title
// and description so far (debounced), each with the words it matched. The panel names the URL
// it asks (`data-suggest`) and where articles open (`data-article`); contacts get articles only.
(function () {
  var panel = document.getElementById("similar");
  if (!panel) { return; }
  var title = document.getElementById("title"), description = document.getElementById("description");
  var customer = document.getElementById("customer_id");
  var tickets = document.getElementById("similar-tickets"), articles = document.getElementById("similar-articles");
  var empty = document.getElementById("similar-empty");
  var timer = null, asked = 0;
  function entry(list, href, label, matched, detail) {
    var li = document.createElement("li"), a = document.createElement("a");
    a.href = href; a.textContent = label; li.appendChild(a);
    if (matched.length) {
      var m = document.createElement("span"); m.className = "muted"; m.textContent = " · ";
      matched.forEach(function (w, i) {
        var mark = document.createElement("mark"); mark.textContent = w; m.appendChild(mark);
        if (i < matched.length - 1) { m.appendChild(document.createTextNode(" ")); }
      });
      li.appendChild(m);
    }
    if (detail) { var p = document.createElement("p"); p.className = "muted"; p.textContent = detail; li.appendChild(p); }
    list.appendChild(li);
  }
  function show(s) {
    if (tickets) { tickets.innerHTML = ""; }
    articles.innerHTML = "";
    (s.tickets || []).forEach(function (t) {
      entry(tickets, "/console/tickets/" + encodeURIComponent(t.number),
        t.number + " · " + t.title + (t.customer ? " (" + t.customer + ")" : ""), t.matched, t.resolution);
    });
    s.articles.forEach(function (a) {
      entry(articles, panel.dataset.article + a.id + "?from=suggestion", a.reference + " · " + a.title, a.matched, a.symptom);
    });
    var none = !(s.tickets || []).length && !s.articles.length;
    empty.hidden = !none;
    panel.dataset.state = none ? "empty" : "shown";
  }
  function ask() {
    var text = (title.value + " " + description.value).trim();
    if (text.length < 2) { return; }
    var n = ++asked;
    var url = panel.dataset.suggest + "?title=" + encodeURIComponent(title.value) + "&description=" + encodeURIComponent(description.value);
    if (customer && customer.value) { url += "&customer_id=" + encodeURIComponent(customer.value); }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (s) { if (n === asked) { show(s); } })
      .catch(function () { /* suggestions are a help; the form works without them */ });
  }
  function later() { clearTimeout(timer); timer = setTimeout(ask, 300); }
  title.addEventListener("input", later);
  description.addEventListener("input", later);
  if (title.value || description.value) { ask(); }
})();
