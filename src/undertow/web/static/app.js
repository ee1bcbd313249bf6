// Keyboard shortcuts on a case page (v, n, e, t decide) and click-to-unblur for media.
(function () {
  "use strict";
  var form = document.getElementById("decide");
  function submit(verdict) {
    document.getElementById("verdict").value = verdict;
    form.submit();
  }
  if (form) {
    form.querySelectorAll("button[data-verdict]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        submit(button.dataset.verdict);
      });
    });
    document.addEventListener("keydown", function (event) {
      var tag = (event.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "select" || tag === "textarea") { return; }
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      var button = form.querySelector('button[data-key="' + event.key + '"]');
      if (button) { event.preventDefault(); submit(button.dataset.verdict); }
    });
  }
  document.querySelectorAll(".media.blurred").forEach(function (el) {
    el.addEventListener("click", function () { el.classList.toggle("blurred"); });
  });
})();
