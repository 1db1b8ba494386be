// The Connect page's live updates: listens on the session's event stream and updates the
// status and the pushed page in place. Settings come from this script element's data-
// attributes (server-rendered, HTML-escaped). The browser's own reconnects carry
// Last-Event-ID. (Included into connect.html as template text: never write a brace followed
// by a brace, a percent sign or a hash here.)
(function () {
  "use strict";
  var cfg = document.currentScript.dataset;
  var st = document.getElementById("status");
  var area = document.getElementById("page-area");
  var notice = document.getElementById("page-notice");
  var list = document.getElementById("pushed-list");
  var listBox = document.getElementById("pushed");
  var elapsed = document.getElementById("elapsed");
  var es = new EventSource(cfg.events);
  // Time since the visitor asked for the call, m:ss, once a second.
  var since = Number(elapsed.getAttribute("data-since"));
  function tick() {
    var secs = Math.max(0, Math.floor((Date.now() - since) / 1000));
    var m = Math.floor(secs / 60);
    var s = secs % 60;
    elapsed.textContent = "Time since you asked: " + m + ":" + (s < 10 ? "0" : "") + s;
  }
  if (since > 0) {
    tick();
    elapsed.hidden = false;
    setInterval(tick, 1000);
  }
  // Every pushed page stays in the list, once, so the visitor can open it again.
  function listed(p) {
    var items = list.children;
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-page-id") === String(p.page_id)) {
        return;
      }
    }
    var li = document.createElement("li");
    li.setAttribute("data-page-id", String(p.page_id));
    var a = document.createElement("a");
    a.href = p.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = p.title;
    li.appendChild(a);
    list.appendChild(li);
    listBox.hidden = false;
  }
  // A visible, announced notice, scrolled to the top of the window with the page right
  // below it (on a phone both are below the status card otherwise).
  function announce(p) {
    notice.textContent = "The agent sent you a page: " + p.title;
    notice.hidden = false;
    notice.scrollIntoView({ block: "start" });
  }
  function seen(e) {
    if (e.lastEventId) {
      document.body.setAttribute("data-last-event-id", e.lastEventId);
    }
  }
  function show(p) {
    var stored = p.url.indexOf("/sessions/") === 0;
    area.textContent = "";
    var h = document.createElement("h2");
    h.id = "page-title";
    h.textContent = p.title;
    h.setAttribute("data-page-id", String(p.page_id));
    area.appendChild(h);
    var f = document.createElement("iframe");
    f.id = "page-frame";
    f.title = p.title;
    // Stored HTML runs with no script and an opaque origin; a subscriber URL may run its
    // own script, never with ours.
    f.setAttribute("sandbox", stored ? cfg.htmlSandbox : cfg.urlSandbox);
    f.setAttribute("referrerpolicy", "no-referrer");
    f.src = p.url;
    area.appendChild(f);
    if (!stored) {
      var q = document.createElement("p");
      var a = document.createElement("a");
      a.id = "page-open";
      a.href = p.url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = "Open this page in a new tab";
      q.appendChild(a);
      area.appendChild(q);
    }
  }
  es.addEventListener("status", function (e) {
    seen(e);
    var d = JSON.parse(e.data);
    st.textContent = d.text;
    st.setAttribute("data-state", d.state);
  });
  // Tells the platform the page is on screen, so the agent sees "shown at"; a receipt that
  // does not arrive changes nothing for the visitor.
  function receipt(e) {
    if (!e.lastEventId || !window.fetch) {
      return;
    }
    fetch(cfg.session + "/shown", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "event=" + encodeURIComponent(e.lastEventId),
      credentials: "same-origin"
    }).catch(function () {});
  }
  es.addEventListener("page", function (e) {
    seen(e);
    var p = JSON.parse(e.data);
    show(p);
    listed(p);
    announce(p);
    receipt(e);
  });
  es.addEventListener("ended", function (e) {
    seen(e);
    es.close();
    location.replace(cfg.session + "/ended");
  });
  es.addEventListener("reload", function () {
    es.close();
    location.reload();
  });
  // 2 is EventSource.CLOSED: the browser gave up reconnecting (e.g. the session is gone).
  es.onerror = function () {
    if (es.readyState === 2) {
      setTimeout(function () { location.reload(); }, 3000);
    }
  };
})();
