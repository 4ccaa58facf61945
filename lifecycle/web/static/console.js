// The console's decisions: each form marked data-api is sent as JSON to the API with the session's
// CSRF token; on success the page reloads and shows the API's message.  No inline scripts (CSP).
(function () {
  "use strict";
  var words = document.body.dataset;
  var KEPT = "lifecycle-console-message";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function say(text, bad) {
    var box = document.getElementById("message");
    if (!box) { return; }
    box.textContent = text;
    box.className = "message " + (bad ? "bad" : "good");
    box.hidden = false;
    box.scrollIntoView({block: "nearest"});
  }

  function send(method, url, data) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken()},
      body: JSON.stringify(data)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        return {status: response.status, ok: response.ok, answer: answer};
      });
    });
  }

  function fieldsOf(form) {
    var data = {};
    new FormData(form).forEach(function (value, name) { data[name] = String(value).trim(); });
    return data;
  }

  function setBusy(form, busy) {
    form.querySelectorAll("button").forEach(function (button) { button.disabled = busy; });
  }

  var kept = window.sessionStorage.getItem(KEPT);
  if (kept) {
    window.sessionStorage.removeItem(KEPT);
    say(kept, false);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id === "login") {
      event.preventDefault();
      logIn(form);
      return;
    }
    if (!form.hasAttribute("data-api")) { return; }
    event.preventDefault();
    var button = event.submitter;
    var url = (button && button.dataset.url) || form.dataset.api;
    var method = (button && button.dataset.method) || form.dataset.method || "POST";
    setBusy(form, true);
    send(method, url, fieldsOf(form)).then(function (result) {
      if (result.ok) {
        window.sessionStorage.setItem(KEPT, words.msgDone + ": " + (result.answer.message || ""));
        window.location.reload();
      } else if (result.status === 401) {
        window.location.assign("/login");
      } else {
        say(words.msgFailed + " (" + result.status + "): " + (result.answer.error || ""), true);
        setBusy(form, false);
      }
    }).catch(function () {
      say(words.msgUnreachable, true);
      setBusy(form, false);
    });
  });

  function logIn(form) {
    setBusy(form, true);
    // The password exactly as typed: spaces at its ends are part of it.
    var credentials = {username: form.elements.username.value.trim(), password: form.elements.password.value};
    send("POST", form.dataset.login, credentials).then(function (result) {
      if (result.ok) {
        window.location.assign(form.dataset.next);
        return;
      }
      var text = {401: words.msgBadLogin, 403: words.msgNoRole, 429: words.msgThrottled}[result.status];
      say(text || (words.msgFailed + " (" + result.status + "): " + (result.answer.error || "")), true);
      setBusy(form, false);
    }).catch(function () {
      say(words.msgUnreachable, true);
      setBusy(form, false);
    });
  }
}());
