// farmwatch console: live updates over server-sent events. The pages work
// without this script; with it, a page refreshes its content when the
// fleet changes and says which findings opened. Event data is shown as
// text, never as HTML.
(function () {
  "use strict";
  if (!window.EventSource) return;
  var note = document.getElementById("live-note");
  var busy = false, pending = false;
  function say(text) {
    if (!note) return;
    note.textContent = text;
    note.hidden = false;
  }
  function editing() {
    var a = document.activeElement;
    if (!a) return false;
    if (a.tagName === "TEXTAREA" || (a.tagName === "INPUT" && a.type === "text" && a.value !== "")) return true;
    var inputs = document.querySelectorAll("form.triage input[name=comment]");
    for (var i = 0; i < inputs.length; i++) if (inputs[i].value !== "") return true;
    return false;
  }
  function refresh() {
    if (busy || editing() || document.getElementById("scan-result")) { pending = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok || r.redirected) throw new Error("status " + r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("live"), cur = document.getElementById("live");
        if (next && cur) cur.replaceWith(document.importNode(next, true));
      })
      .catch(function () { say("Could not refresh the page: reload it."); })
      .then(function () { busy = false; if (pending) { pending = false; setTimeout(refresh, 500); } });
  }
  var es = new EventSource("/events");
  es.addEventListener("finding", function (e) {
    var f;
    try { f = JSON.parse(e.data); } catch (err) { return; }
    say("New " + f.severity + " finding on " + f.hostname + ": " + f.title);
    refresh();
  });
  es.addEventListener("changed", refresh);
  es.addEventListener("signedout", function () { es.close(); say("You are signed out: reload to sign in again."); });
  document.addEventListener("focusout", function () { if (pending && !editing()) { pending = false; refresh(); } });
})();
