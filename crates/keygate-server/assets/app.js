// keygate admin UI: comfort on top of server-rendered pages that work
// without this script. Served from /admin/assets under a CSP that allows no
// inline script, so every behaviour hangs off data-* attributes.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  // ---- dialogs: focus stays inside, Escape closes, the page behind is inert
  function setupModal(backdrop) {
    var modal = backdrop.querySelector(".modal");
    var closeHref = backdrop.getAttribute("data-close-href");
    document.body.classList.add("modal-open");
    $all("body > *, main > *").forEach(function (el) {
      if (!el.contains(backdrop) && el !== backdrop) el.setAttribute("inert", "");
    });
    var focusable = function () {
      return $all("a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea", modal)
        .filter(function (el) { return !el.closest("[hidden]") && el.offsetParent !== null; });
    };
    // After a refused submit, the field with the mistake; else the dialog's first field.
    var auto = modal.querySelector('[aria-invalid="true"]') || modal.querySelector("[autofocus]") || focusable()[0];
    if (auto && document.activeElement !== auto) auto.focus();
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && closeHref) {
        event.preventDefault();
        window.location.href = closeHref;
      } else if (event.key === "Tab") {
        var items = focusable();
        if (!items.length) return;
        var first = items[0], last = items[items.length - 1];
        if (event.shiftKey && document.activeElement === first) { last.focus(); event.preventDefault(); }
        else if (!event.shiftKey && document.activeElement === last) { first.focus(); event.preventDefault(); }
      }
    });
  }

  // ---- permission picker: category menu, select-all per category, counts
  function setupPicker(picker) {
    var boxes = $all('input[name="actions"]', picker);
    var show = function (slug) {
      $all("[data-picker-panel]", picker).forEach(function (panel) {
        panel.classList.toggle("active", panel.getAttribute("data-picker-panel") === slug);
      });
      $all("[data-picker-cat]", picker).forEach(function (link) {
        var on = link.getAttribute("data-picker-cat") === slug;
        link.classList.toggle("active", on);
        if (on) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current");
      });
    };
    var update = function () {
      var total = 0;
      $all("[data-picker-panel]", picker).forEach(function (panel) {
        var slug = panel.getAttribute("data-picker-panel");
        var mine = boxes.filter(function (b) { return b.getAttribute("data-cat") === slug; });
        var on = mine.filter(function (b) { return b.checked; }).length;
        total += on;
        var all = panel.querySelector("[data-select-all]");
        all.checked = on === mine.length && on > 0;
        all.indeterminate = on > 0 && on < mine.length;
        var badge = picker.querySelector('[data-cat-count="' + slug + '"]');
        badge.textContent = on + "/" + mine.length;
        badge.classList.toggle("badge-on", on > 0);
      });
      picker.querySelector("[data-picker-count]").textContent = String(total);
    };
    $all("[data-picker-cat]", picker).forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        show(link.getAttribute("data-picker-cat"));
      });
    });
    $all("[data-select-all-label]", picker).forEach(function (label) { label.hidden = false; });
    $all("[data-select-all]", picker).forEach(function (all) {
      all.addEventListener("change", function () {
        var slug = all.getAttribute("data-select-all");
        boxes.forEach(function (b) { if (b.getAttribute("data-cat") === slug) b.checked = all.checked; });
        update();
      });
    });
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  }

  // ---- copy buttons (the new identifier and secret)
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }

  function setupCopy(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var status = document.querySelector("[data-copy-status]");
      var what = button.getAttribute("data-copy") === "new-secret" ? "Secret" : "Identifier";
      copyText(source.textContent.trim()).then(function () {
        if (status) status.textContent = what + " copied to the clipboard.";
        button.classList.add("copied");
      }, function () {
        if (status) status.textContent = "Copying failed: select the text and copy it by hand.";
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      });
    });
  }

  // ---- "View": expand a role's permissions in place
  function setupToggle(button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var row = document.getElementById(button.getAttribute("data-toggle-row"));
      var open = row.hidden;
      row.hidden = !open;
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // ---- in-place description edit: click the text, the checkmark saves
  function setupDescription(cell) {
    var show = cell.querySelector(".desc-show");
    var form = cell.querySelector("[data-desc-form]");
    var input = form.querySelector('input[name="description"]');
    var error = form.querySelector("[data-desc-error]");
    var open = function (on) {
      show.hidden = on;
      form.hidden = !on;
      error.hidden = true;
      if (on) { input.focus(); input.select(); }
    };
    show.addEventListener("submit", function (event) { event.preventDefault(); open(true); });
    form.querySelector("[data-desc-cancel]").addEventListener("click", function (event) {
      event.preventDefault();
      input.value = input.getAttribute("data-original");
      open(false);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        input.value = input.getAttribute("data-original");
        open(false);
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
      }).then(function (response) {
        var answer = function (data) { return { ok: response.ok, status: response.status, data: data || {} }; };
        return response.json().then(answer, function () { return answer({}); });
      }).then(function (result) {
        if (!result.ok) {
          throw new Error(result.data.error || "The description could not be saved (HTTP " + result.status + ").");
        }
        var text = show.querySelector("[data-desc-text]");
        var value = result.data.description;
        text.textContent = value || "Add a description";
        text.classList.toggle("muted", !value);
        input.value = value;
        input.setAttribute("data-original", value);
        open(false);
        show.querySelector("button").focus();
      }).catch(function (e) {
        error.textContent = e.message || "The description could not be saved.";
        error.hidden = false;
      });
    });
  }

  // ---- expiry: the custom date field only when "Custom date" is picked
  function setupExpiry(select) {
    var custom = select.form && select.form.querySelector("[data-expiry-custom]");
    if (!custom) return;
    var input = custom.querySelector("input");
    var update = function (focus) {
      var on = select.value === "custom";
      custom.hidden = !on;
      if (on && focus) input.focus();
    };
    select.addEventListener("change", function () { update(true); });
    update(false);
  }

  function init() {
    $all("[data-modal]").forEach(setupModal);
    $all("[data-picker]").forEach(setupPicker);
    $all("[data-copy]").forEach(setupCopy);
    $all("[data-toggle-row]").forEach(setupToggle);
    $all("[data-desc-cell]").forEach(setupDescription);
    $all("[data-expiry-select]").forEach(setupExpiry);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
