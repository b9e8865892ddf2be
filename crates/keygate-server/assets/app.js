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

  // ---- the category menu as a vertical tablist: one tab stop (roving
  // tabindex), Up/Down (Left/Right) move to the previous/next category and
  // show it, Home/End to the first/last.
  function setupCategoryKeys(picker, show) {
    var menu = picker.querySelector(".picker-menu");
    var panels = picker.querySelector(".picker-panels");
    if (!menu || !panels) return;
    menu.setAttribute("role", "tablist");
    menu.setAttribute("aria-orientation", "vertical");
    panels.setAttribute("role", "tabpanel");
    if (!panels.id) panels.id = "picker-panels";
    var links = $all("[data-picker-cat]", menu);
    links.forEach(function (link) {
      link.setAttribute("role", "tab");
      link.id = "tab-" + link.getAttribute("data-picker-cat");
      link.setAttribute("aria-controls", panels.id);
    });
    var active = menu.querySelector("[data-picker-cat].active") || links[0];
    if (active) show(active.getAttribute("data-picker-cat"));
    var moves = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, Home: "first", End: "last" };
    menu.addEventListener("keydown", function (event) {
      var move = moves[event.key];
      var shown = links.filter(function (l) { return !l.hidden && l.offsetParent !== null; });
      var at = shown.indexOf(document.activeElement);
      if (move === undefined || at < 0 || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      var next = move === "first" ? 0 : move === "last" ? shown.length - 1 : (at + move + shown.length) % shown.length;
      show(shown[next].getAttribute("data-picker-cat"));
      shown[next].focus();
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
        link.setAttribute("aria-selected", on ? "true" : "false");
        link.tabIndex = on ? 0 : -1;
      });
      var panels = picker.querySelector(".picker-panels");
      if (panels) panels.setAttribute("aria-labelledby", "tab-" + slug);
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
    setupCategoryKeys(picker, show);
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

  // ---- one-time secret: Close and Escape work only once "I have copied
  // the secret" is ticked (a second Enter or Escape must not lose it)
  function setupSecretGate(box) {
    var close = box.form && box.form.querySelector("[data-secret-close]");
    if (!close) return;
    var note = box.form.querySelector("[data-secret-note]");
    var update = function () {
      close.disabled = !box.checked;
      if (box.checked && note) note.textContent = "";
    };
    box.addEventListener("change", update);
    // Capturing on window runs before the dialog's own Escape handler.
    window.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || box.checked) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      if (note) note.textContent = "The secret is shown only once: copy it, then tick \u201cI have copied the secret\u201d to close.";
      box.focus();
    }, true);
    update();
  }

  // ---- unsaved changes: Escape, Cancel or a close button asks before a
  // changed form (or one shown again after a refused save) is thrown away
  function setupUnsavedGuard(form) {
    var question = form.getAttribute("data-unsaved-guard");
    var backdrop = form.closest("[data-modal]") || form;
    var state = function () { return new URLSearchParams(new FormData(form)).toString(); };
    var initial = state();
    var refused = !!form.querySelector("#form-error");
    var keep = function () {
      return (refused || state() !== initial) && !window.confirm(question);
    };
    var onEscape = function (event) {
      if (event.key !== "Escape" || !keep()) return;
      event.preventDefault();
      event.stopImmediatePropagation();
    };
    // Inside the dialog after its own fields (a filter box clears first);
    // from elsewhere (focus on the page body) before the dialog's handler.
    backdrop.addEventListener("keydown", onEscape);
    window.addEventListener("keydown", function (event) {
      if (!backdrop.contains(event.target)) onEscape(event);
    }, true);
    $all(".modal-foot a[href], [data-discard]", backdrop).forEach(function (link) {
      link.addEventListener("click", function (event) { if (keep()) event.preventDefault(); });
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

  // ---- a credential row's buttons are named "... credential ID (Description)"
  // (see ui/a11y.rs): after an in-place description edit, say the new one.
  function relabelRow(row, before, after) {
    var id = row && row.getAttribute("data-identifier");
    if (!id) return;
    var name = function (d) { d = (d || "").trim(); return "credential " + id + (d ? " (" + d + ")" : ""); };
    $all("[aria-label]", row).forEach(function (el) {
      el.setAttribute("aria-label", el.getAttribute("aria-label").replace(name(before), name(after)));
    });
    var view = row.querySelector("[data-desc-view]");
    after = (after || "").trim();
    if (view) view.setAttribute("aria-label", after ? after + ": edit the description of credential " + id : "Add a description to credential " + id);
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
        relabelRow(cell.closest("tr"), input.getAttribute("data-original"), value);
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

  // ---- phones: the sort select (headers are hidden) goes to the order's URL
  function setupSortSelect(label) {
    var select = label.querySelector("select");
    var links = label.parentNode.querySelector("[data-sort-links]");
    label.hidden = false;
    if (links) links.hidden = true;
    select.addEventListener("change", function () { window.location.href = select.value; });
  }

  // ---- filter boxes: Enter does not submit; Escape clears before it closes
  function filterKeys(input, apply) {
    input.addEventListener("input", apply);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") event.preventDefault();
      if (event.key === "Escape" && input.value) {
        event.preventDefault();
        event.stopPropagation();
        input.value = "";
        apply();
      }
    });
  }

  function matches(label, needle) {
    return !needle || label.textContent.toLowerCase().indexOf(needle) >= 0;
  }

  // ---- role lists in the credential dialogs: ticked roles stay visible
  function setupListFilter(input) {
    var list = document.getElementById(input.getAttribute("data-filter-list"));
    if (!list) return;
    input.closest("[data-filter-box]").hidden = false;
    var apply = function () {
      var needle = input.value.trim().toLowerCase();
      $all("label.check", list).forEach(function (label) {
        var box = label.querySelector("input");
        label.hidden = !(matches(label, needle) || (box && box.checked));
      });
    };
    filterKeys(input, apply);
    apply();
  }

  // ---- the role dialog's action filter: matching actions of every category
  function setupPickerFilter(picker) {
    var input = picker.querySelector("[data-picker-filter]");
    if (!input) return;
    input.closest("[data-filter-box]").hidden = false;
    var status = picker.querySelector("[data-picker-filter-status]");
    var apply = function () {
      var needle = input.value.trim().toLowerCase();
      var shown = 0;
      picker.classList.toggle("filtering", needle !== "");
      $all("[data-picker-panel]", picker).forEach(function (panel) {
        var any = false;
        $all(".action-grid label.check", panel).forEach(function (label) {
          var on = matches(label, needle);
          label.hidden = !on;
          if (on) { any = true; shown += 1; }
        });
        panel.classList.toggle("no-match", needle !== "" && !any);
      });
      status.textContent = needle ? (shown === 1 ? "1 matching action" : shown + " matching actions") : "";
    };
    $all("[data-picker-cat]", picker).forEach(function (link) {
      link.addEventListener("click", function () { if (input.value) { input.value = ""; apply(); } });
    });
    filterKeys(input, apply);
    apply();
  }

  // ---- Generate: warn while the picked owner is a disabled admin
  function setupAdminWarning(warning) {
    var select = warning.closest("form").querySelector("[data-admin-select]");
    if (!select) return;
    var update = function () {
      var option = select.options[select.selectedIndex];
      warning.hidden = !(option && option.hasAttribute("data-disabled"));
    };
    select.addEventListener("change", update);
    update();
  }

  // ---- Edit: warn while no ticked role allows an action
  function setupNoActionsWarning(warning) {
    var boxes = $all('input[name="roles"]', warning.closest("form"));
    var update = function () {
      warning.hidden = boxes.some(function (b) {
        return b.checked && !b.hasAttribute("data-allows-nothing");
      });
    };
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  }

  function init() {
    $all("[data-filter-list]").forEach(setupListFilter);
    $all("[data-picker]").forEach(setupPickerFilter);
    $all(".cred-row.row-new").forEach(function (row) { row.scrollIntoView({ block: "center" }); });
    $all("[data-sort-select]").forEach(setupSortSelect);
    $all("[data-modal]").forEach(setupModal);
    $all("[data-unsaved-guard]").forEach(setupUnsavedGuard);
    $all("[data-picker]").forEach(setupPicker);
    $all("[data-copy]").forEach(setupCopy);
    $all("[data-secret-copied]").forEach(setupSecretGate);
    $all("[data-toggle-row]").forEach(setupToggle);
    $all("[data-desc-cell]").forEach(setupDescription);
    $all("[data-expiry-select]").forEach(setupExpiry);
    $all("[data-admin-disabled-warning]").forEach(setupAdminWarning);
    $all("[data-no-actions-warning]").forEach(setupNoActionsWarning);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
