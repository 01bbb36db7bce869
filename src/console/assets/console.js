// accredito back office: shows every <time datetime="..."> in the viewer's own time zone
// (the server writes UTC, which stays in the title for hover). Nothing else; every page works
// without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var meta = document.querySelector('meta[name="accredito-locale"]');
  var locale = meta && meta.content === "it" ? "it-IT" : "en-GB";
  var format = new Intl.DateTimeFormat(locale, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at.getTime())) {
      el.textContent = format.format(at);
    }
  });
});
