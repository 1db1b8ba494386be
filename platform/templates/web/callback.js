// The queue page's live updates: listens on the request's event stream and shows its place,
// the estimate and the state; when its call is being placed the page goes to the call's
// Connect page. Settings come from this script element's data- attributes. (Included into
// callback.html as template text: never write a brace followed by a brace, a percent sign
// or a hash here.)
(function () {
  "use strict";
  var cfg = document.currentScript.dataset;
  var st = document.getElementById("status");
  var place = document.getElementById("place");
  var position = document.getElementById("position");
  var wait = document.getElementById("wait");
  var estimate = document.getElementById("estimate");
  var form = document.getElementById("cancel-form");
  var es = new EventSource(cfg.events);
  es.addEventListener("queue", function (e) {
    var u;
    try {
      u = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    if (e.lastEventId) {
      document.body.setAttribute("data-last-event-id", e.lastEventId);
    }
    st.textContent = u.text;
    st.setAttribute("data-state", u.state);
    if (u.position) {
      position.textContent = String(u.position);
      place.hidden = false;
      estimate.textContent = u.estimate_words;
      wait.hidden = false;
    } else {
      place.hidden = true;
      wait.hidden = true;
    }
    if (u.state === "dialing" && u.call_url) {
      es.close();
      window.location.assign(u.call_url);
    } else if (u.state === "done" || u.state === "cancelled" || u.state === "failed") {
      es.close();
      if (form) {
        form.hidden = true;
      }
    }
  });
  es.addEventListener("reload", function () {
    es.close();
    window.location.reload();
  });
})();
