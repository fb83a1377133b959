// Filters the kelurahan list as the officer types; without JavaScript the list still works.
(function () {
  var print = document.getElementById("print");
  if (print) { print.addEventListener("click", function () { window.print(); }); }
  var search = document.getElementById("kelurahan-search");
  var select = document.getElementById("kelurahan");
  if (!search || !select) { return; }
  search.addEventListener("input", function () {
    var q = search.value.trim().toLowerCase();
    var first = null;
    for (var i = 0; i < select.options.length; i++) {
      var o = select.options[i];
      var hit = !q || !o.value || (o.getAttribute("data-search") || "").indexOf(q) !== -1;
      o.hidden = !hit;
      if (hit && o.value && first === null) { first = o; }
    }
    if (q && first !== null) { select.value = first.value; }
  });
  var form = document.getElementById("intake");
  if (form) {
    form.addEventListener("submit", function () {
      var button = document.getElementById("submit");
      window.setTimeout(function () { button.disabled = true; }, 0);
    });
    // Back from the receipt restores the page as it was: enable the button again (the
    // idempotency key in the form makes a resubmit find the complaint already saved).
    window.addEventListener("pageshow", function () { document.getElementById("submit").disabled = false; });
  }
})();
