/* The PQL definition builder in the admin: each criterion shows only the
 * fields its kind and role need, event names never received are flagged,
 * and the definition is read back (sentence, points, warnings, preview)
 * from the server as it is edited. Plain script, no build step. */
(function () {
  "use strict";

  function rowOf(root, name) {
    var input = root.querySelector('[name$="-' + name + '"]');
    if (!input) return null;
    return input.closest(".fieldBox") || input.closest("td") || input.closest(".form-row");
  }

  function show(element, visible) {
    if (!element) return;
    // A table cell keeps its place so that the columns stay aligned.
    if (element.tagName === "TD") element.style.visibility = visible ? "" : "hidden";
    else element.hidden = !visible;
  }

  function fieldValue(root, name) {
    var input = root.querySelector('[name$="-' + name + '"]');
    return input ? input.value : "";
  }

  function seenNames() {
    var list = document.getElementById("seen-events");
    var names = {};
    if (list) list.querySelectorAll("option").forEach(function (o) { names[o.value] = true; });
    return names;
  }

  function flagUnseen(input, names) {
    var note = input.parentNode.querySelector(".unseen-event");
    var unseen = input.value.trim() !== "" && Object.keys(names).length > 0 && !names[input.value.trim()];
    if (unseen && !note) {
      note = document.createElement("span");
      note.className = "unseen-event";
      note.textContent = "No event with this name has been received yet.";
      input.insertAdjacentElement("afterend", note);
    } else if (!unseen && note) {
      note.remove();
    }
  }

  function arrange(root) {
    var kind = fieldValue(root, "kind");
    var role = fieldValue(root, "role");
    var window = fieldValue(root, "window");
    root.querySelectorAll("fieldset.kind-attribute").forEach(function (f) { show(f, kind === "attribute"); });
    root.querySelectorAll("fieldset.kind-events").forEach(function (f) { show(f, kind !== "attribute"); });
    if (kind && kind !== "attribute") {
      var name = root.querySelector('[name$="-event_name"]');
      if (name) name.placeholder = kind === "days_active" ? "any event" : "e.g. invite_sent";
    }
    if (root.querySelector('[name$="-role"]')) {
      show(rowOf(root, "gates_apply"), role === "trigger");
    }
    var sized = window === "after_signup" || window === "last_days";
    show(rowOf(root, "window_days"), sized);
    show(rowOf(root, "window_unit"), sized);
    var events = seenNames();
    root.querySelectorAll('[name$="-event_name"]').forEach(function (input) { flagUnseen(input, events); });
  }

  function arrangeAll() {
    document.querySelectorAll(ROWS).forEach(arrange);
  }

  var ROWS = "#criteria-group .inline-related, #milestones-group tr.form-row";
  var panel, timer, asked = 0;

  function post(counts) {
    var form = document.getElementById("definition_form");
    if (!form || !panel) return Promise.resolve(null);
    var data = new FormData(form);
    data.set("counts", counts ? "1" : "0");
    if (panel.dataset.definitionId) data.set("_definition_id", panel.dataset.definitionId);
    var mine = ++asked;
    return fetch(panel.dataset.previewUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    }).then(function (response) { return response.json(); }).then(function (answer) {
      return mine === asked ? answer : null;
    });
  }

  function render(answer) {
    if (!answer) return;
    var sentence = document.getElementById("builder-sentence");
    var points = document.getElementById("builder-points");
    var warnings = document.getElementById("builder-warnings");
    warnings.textContent = "";
    if (answer.errors) {
      answer.errors.slice(0, 5).forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = "Not valid yet: " + text;
        warnings.appendChild(item);
      });
      return;
    }
    sentence.textContent = answer.sentence;
    points.textContent = answer.counts_score
      ? "The criteria give at most " + answer.most_points + " points; the threshold is " + answer.threshold + "."
      : "No criterion carries points: the score threshold does not apply.";
    answer.warnings.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      warnings.appendChild(item);
    });
    if (answer.preview) {
      var p = answer.preview;
      var out = document.getElementById("builder-preview");
      out.textContent = "Would qualify " + p.draft_qualifying.toLocaleString("en") + " now: " +
        p.newly.toLocaleString("en") + " newly, " + p.dropping.toLocaleString("en") + " no longer, " +
        p.draft_open_leads.toLocaleString("en") + " of them open leads.";
    }
  }

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () { post(false).then(render); }, 500);
  }

  document.addEventListener("DOMContentLoaded", function () {
    panel = document.getElementById("builder-panel");
    arrangeAll();
    var form = document.getElementById("definition_form");
    if (!form) return;
    form.addEventListener("change", function (event) {
      var root = event.target.closest(ROWS);
      if (root) arrange(root);
      refresh();
    });
    form.addEventListener("input", function (event) {
      if (event.target.name && /-event_name$/.test(event.target.name)) flagUnseen(event.target, seenNames());
      refresh();
    });
    var button = document.getElementById("builder-preview-button");
    if (button) {
      button.addEventListener("click", function () {
        var out = document.getElementById("builder-preview");
        out.textContent = "Counting…";
        post(true).then(render).catch(function () { out.textContent = "The preview failed; try again."; });
      });
    }
  });
  document.addEventListener("formset:added", function (event) {
    arrange(event.target);
    refresh();
  });
  document.addEventListener("formset:removed", refresh);
})();
