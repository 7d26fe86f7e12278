// proactive-care console: live countdowns (SLA deadlines, ages) between server updates. No dependencies.
(function () {
  "use strict";
  function text(seconds) {
    seconds = Math.floor(Math.abs(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min";
    var hours = Math.floor(minutes / 60); minutes = minutes % 60;
    if (hours < 48) return minutes ? hours + " h " + minutes + " min" : hours + " h";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-deadline]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(at)) return;
      var left = (at - now) / 1000;
      el.textContent = left >= 0 ? text(left) + " left" : "overdue by " + text(left);
      el.classList.toggle("late", left < 0);
    });
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(at)) el.textContent = text((now - at) / 1000);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  // the first live message replaces the "no messages yet" line
  document.addEventListener("htmx:sseMessage", function () {
    var empty = document.getElementById("no-messages");
    if (empty && document.querySelector("#notifications article")) empty.remove();
  });
})();
