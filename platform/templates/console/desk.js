// The agent desk's live part: keeps "Calls waiting" in step with the server (SSE `offers`)
// and reloads the page when the agent's own call changed (SSE `call`), so the screen-pop shows
// the latest timeline. Builds nothing from markup strings: offers are cloned from the page's
// <template> and filled with textContent. Without this script the page still works by its
// forms and a reload.
(function () {
  "use strict";
  var script = document.currentScript;
  var list = document.getElementById("offer-list");
  var none = document.getElementById("no-offers");
  var template = document.getElementById("offer-template");
  if (!script || !list || !none || !template || !window.EventSource) {
    return;
  }
  function render(offers) {
    var focused = document.activeElement && document.activeElement.id;
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    offers.forEach(function (o) {
      var item = template.content.firstElementChild.cloneNode(true);
      item.querySelector("input[name=reference]").value = o.reference;
      var button = item.querySelector("button");
      button.id = "claim-" + o.reference;
      button.querySelector(".ref").textContent = o.reference;
      button.querySelector(".what").textContent = o.label || o.subject;
      button.querySelector(".num").textContent = o.number;
      list.appendChild(item);
    });
    // An agent who takes no call now (away, wrap-up, on a call) is told why instead.
    none.hidden = offers.length > 0 || document.getElementById("not-offered") !== null;
    // A keyboard user keeps their place when the list is redrawn.
    if (focused) {
      var again = document.getElementById(focused);
      if (again) {
        again.focus();
      }
    }
  }
  var reloading = false;
  var events = new EventSource(script.getAttribute("data-events"));
  events.addEventListener("offers", function (e) {
    try {
      render(JSON.parse(e.data));
    } catch (err) {
      // A malformed event changes nothing; the next one redraws the list.
    }
  });
  var shown = script.getAttribute("data-seq");
  events.addEventListener("call", function (e) {
    // The first event says where the call is now: reload only if this page is behind.
    try {
      var now = JSON.parse(e.data);
      if (typeof now.seq === "number" && String(now.seq) === shown) {
        return;
      }
    } catch (err) {
      // No position given: the call changed.
    }
    // Several changes in a row reload once.
    if (!reloading) {
      reloading = true;
      setTimeout(function () {
        window.location.replace("/console");
      }, 150);
    }
  });
})();
