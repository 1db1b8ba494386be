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
      button.disabled = document.body.classList.contains("read-only-tab");
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
  // Which tab this is (item 6): kept by a reload, new in a new tab. One tab of the session
  // has the desk; the others are read-only until "Use this tab".
  var tab = null;
  try {
    tab = window.sessionStorage.getItem("cb-console-tab");
    if (!tab && window.crypto && window.crypto.getRandomValues) {
      var bytes = new Uint8Array(12);
      window.crypto.getRandomValues(bytes);
      tab = "t-" + Array.prototype.map.call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
      window.sessionStorage.setItem("cb-console-tab", tab);
    }
  } catch (err) {
    tab = null;
  }
  var banner = document.getElementById("read-only");
  function stamp(form) {
    if (!tab) {
      return;
    }
    var field = form.querySelector("input[name=tab]");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "tab";
      form.appendChild(field);
    }
    field.value = tab;
  }
  document.addEventListener("submit", function (e) {
    if (e.target && e.target.tagName === "FORM") {
      stamp(e.target);
    }
  }, true);
  function owner(has) {
    if (banner) {
      banner.hidden = has;
    }
    document.body.classList.toggle("read-only-tab", !has);
    var buttons = document.querySelectorAll("main button");
    Array.prototype.forEach.call(buttons, function (b) {
      if (b.id !== "take-over-button" && b.id !== "sign-out-button") {
        b.disabled = !has;
      }
    });
  }
  var reloading = false;
  var url = script.getAttribute("data-events");
  var events = new EventSource(tab ? url + "?tab=" + encodeURIComponent(tab) : url);
  events.addEventListener("tab", function (e) {
    try {
      owner(JSON.parse(e.data).owner === true);
    } catch (err) {
      // A malformed event changes nothing.
    }
  });
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
      }, 40);
    }
  });
})();
