// Live updates: follow /sse from the event this page was rendered with; for each event about
// a change, fetch that change's card (rendered by the server, like the page) and move it to
// the top. Relative times are kept current. Without this script the page is still complete.
(function () {
  "use strict";
  var body = document.body;
  var list = document.getElementById("changes");
  var live = document.getElementById("live");
  var pending = {};
  var timer = null;

  function ago(ms) {
    var s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  function tick() {
    var ts = document.querySelectorAll("time[data-ms]");
    for (var i = 0; i < ts.length; i++) ts[i].textContent = ago(Number(ts[i].dataset.ms));
  }
  function summary() {
    var order = ["building", "pending", "failed", "unstable", "successful", "aborted", "cancelled"];
    var html = "";
    order.forEach(function (s) {
      var n = list.querySelectorAll(".build." + s).length;
      if (n) html += '<span class="count ' + s + '">' + n + " " + s + "</span>";
    });
    document.getElementById("summary").innerHTML = html;
  }
  function refresh(change) {
    fetch("/board/changes/" + change, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var card = t.content.firstElementChild;
        var old = document.getElementById(card.id);
        if (old) old.remove();
        var empty = document.getElementById("empty");
        if (empty) empty.remove();
        card.classList.add("fresh");
        list.insertBefore(card, list.firstChild);
        setTimeout(function () { card.classList.remove("fresh"); }, 3000);
        tick();
        summary();
        body.dataset.updates = String(Number(body.dataset.updates || 0) + 1);
      })
      .catch(function () {});
  }
  // Several events about one change in a burst cost one fetch.
  function later(change) {
    pending[change] = true;
    if (timer) return;
    timer = setTimeout(function () {
      var changes = Object.keys(pending);
      pending = {};
      timer = null;
      changes.forEach(refresh);
    }, 150);
  }
  function onEvent(e) {
    body.dataset.lastEvent = e.lastEventId;
    try {
      var d = JSON.parse(e.data);
      if (d.change && d.change.indexOf("~") > 0) later(d.change);
    } catch (err) { /* not ours */ }
  }
  if (!window.EventSource) return;
  var es = new EventSource("/sse?after=" + encodeURIComponent(body.dataset.lastEvent || "0"));
  es.onopen = function () {
    body.dataset.live = "1";
    live.lastChild.textContent = "live";
  };
  es.onerror = function () {
    body.dataset.live = "0";
    live.lastChild.textContent = "reconnecting";
  };
  ["build", "clean", "check", "reply", "skip", "aside", "leave", "error", "status"].forEach(
    function (k) { es.addEventListener(k, onEvent); });
  setInterval(tick, 10000);
})();
