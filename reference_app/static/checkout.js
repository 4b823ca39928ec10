// Progressive enhancement for the server-rendered checkout pages.
//
// Every guarantee is enforced by the server (the confirm key replays, PRG, no-store); this
// script only keeps the page honest about what is happening:
// - confirm page: the Pay button is disabled with a loading state on the first submit and
//   any further submit is cancelled;
// - progress page: polls the order with GET (never re-POSTs) and moves on when it settles;
// - success page: replaces its own history entry so nothing in history leads to a POST;
// - any page restored from the back-forward cache is reloaded from the server.
(function () {
  "use strict";

  var page = document.body.dataset.page;

  // A page restored from the back-forward cache is a snapshot: its Pay button may still look
  // live although the order is paid. Reload it: the server redirects a paid order to success.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && page !== "shop") {
      location.reload();
    }
  });

  function guardPayButton() {
    var form = document.getElementById("confirm-form");
    var button = document.getElementById("pay");
    if (!form || !button) return;
    // FLAW(no_button_guard) only: the server asked for no guard (see reference_app/flaws.py).
    if (form.dataset.buttonGuard === "off") return;
    var status = form.querySelector(".status");
    form.addEventListener("submit", function (event) {
      if (form.dataset.submitting === "true") {
        event.preventDefault(); // second click, Enter key, ...: one submit per page load
        return;
      }
      form.dataset.submitting = "true";
      // Disable only the button: disabled inputs would be left out of the form data.
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.classList.add("is-loading");
      var label = button.querySelector(".label");
      if (label) label.textContent = "Processing…";
      if (status) status.textContent = "Confirming your payment. Please wait.";
    });
  }

  function pollProgress() {
    var el = document.getElementById("progress");
    if (!el) return;
    var url = "/api/orders/" + encodeURIComponent(el.dataset.orderId);
    var delay = 400;
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (order) {
          if (order && order.status === "paid") {
            location.replace(el.dataset.successUrl);
            return;
          }
          if (order && (!order.payment || order.payment.status !== "PENDING")) {
            // Declined, or nothing in flight: the confirm page shows which.
            location.replace(el.dataset.confirmUrl);
            return;
          }
          schedule();
        })
        .catch(schedule);
    }
    function schedule() {
      delay = Math.min(delay * 1.5, 5000);
      setTimeout(tick, delay);
    }
    setTimeout(tick, delay);
  }

  if (page === "confirm") guardPayButton();
  if (page === "progress") pollProgress();
  if (page === "success") history.replaceState(history.state, "", location.href);
})();
