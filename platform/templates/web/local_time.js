// The opening time in the visitor's own time zone, when it is not the call center's: the
// server wrote the sentence in the call center's zone, which is all a browser without
// scripts shows. (Included as template text: never write a brace followed by a brace, a
// percent sign or a hash here.)
(function () {
  "use strict";
  var el = document.getElementById("local-time");
  if (!el || typeof Intl === "undefined") {
    return;
  }
  var at = new Date(el.getAttribute("data-at"));
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (isNaN(at.getTime()) || !zone || zone === el.getAttribute("data-zone")) {
    return;
  }
  var shown = new Intl.DateTimeFormat(undefined, {
    weekday: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
  }).format(at);
  el.textContent = "That is " + shown + " your time (" + zone + ").";
  el.hidden = false;
})();
