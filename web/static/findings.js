// The findings list: a "select all on this page" checkbox for the bulk actions. Progressive
// enhancement: without this script every row's checkbox still works on its own.
(function () {
  "use strict";
  var form = document.getElementById("bulk");
  if (!form) { return; }
  var cell = form.querySelector("th.select");
  var boxes = form.querySelectorAll('input[name="finding"]');
  if (!cell || !boxes.length) { return; }
  var all = document.createElement("input");
  all.type = "checkbox";
  all.id = "select-all";
  all.setAttribute("aria-label", "Select all findings on this page");
  cell.textContent = "";
  cell.appendChild(all);
  function sync() {
    var ticked = 0;
    boxes.forEach(function (b) { if (b.checked) { ticked += 1; } });
    all.checked = ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
  });
  boxes.forEach(function (b) { b.addEventListener("change", sync); });
  sync();
}());
