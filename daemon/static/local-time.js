// Shows the times of a page in the reader's own time zone. The server writes every time as
// <time datetime="…Z"> with its UTC text (the fallback without this script); this rewrites the
// title of each (the exact time on hover) and, for <time class="exact">, the text itself, as
// "YYYY-MM-DD HH:MM (UTC±H)" in the browser's zone. Served from this origin under the pages'
// CSP (script-src 'self'); it reads no input and changes nothing but those texts.
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function offset(d) {
    var minutes = -d.getTimezoneOffset();
    var sign = minutes < 0 ? "\u2212" : "+";
    var abs = Math.abs(minutes);
    var hours = Math.floor(abs / 60);
    var rest = abs % 60;
    return "UTC" + sign + hours + (rest ? ":" + pad(rest) : "");
  }
  function local(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + " (" + offset(d) + ")";
  }
  function rewrite() {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) continue;
      var text = local(d);
      t.setAttribute("title", text);
      if (t.classList.contains("exact")) t.textContent = text;
      t.setAttribute("data-local", "");
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", rewrite);
  } else {
    rewrite();
  }
})();
