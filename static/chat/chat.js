// The little the chat page needs beyond HTMX: Enter to send, file checks and
// drag-and-drop, and keeping the scroll position while polls add bubbles.
(function () {
  "use strict";

  var stick = true; // the view follows new messages while it is at the bottom
  var fromBottom = null; // distance from the bottom kept while older history loads

  function messages() { return document.getElementById("messages"); }

  // Polls (hx-trigger "every ...") wait while the tab is hidden; showing it again polls at once
  // (their visibilitychange trigger). This is done here rather than with an hx-trigger filter
  // such as [document.visibilityState === 'visible'], which htmx would have to eval: the
  // Content-Security-Policy forbids that.
  // The sidebar's poll (data-background-seconds) keeps going in a hidden tab, slowly, so that
  // notifications still come.
  var lastBackground = 0;
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    var trigger = elt.getAttribute("hx-trigger") || "";
    if (document.visibilityState !== "hidden" || trigger.indexOf("every ") !== 0) return;
    var slow = Number(elt.getAttribute("data-background-seconds")) * 1000;
    if (slow && Date.now() - lastBackground >= slow) { lastBackground = Date.now(); return; }
    event.preventDefault();
  });

  function toBottom() {
    var box = messages();
    if (box) box.scrollTop = box.scrollHeight;
  }

  // A pane opened at a search hit (data-found) shows that bubble, marked, instead of the newest.
  function toFoundOrBottom() {
    var pane = document.getElementById("pane");
    var found = pane && pane.getAttribute("data-found");
    var bubble = found && document.getElementById("m-" + found);
    if (!bubble) { stick = true; toBottom(); return; }
    stick = false;
    bubble.classList.add("msg-found");
    bubble.scrollIntoView({ block: "center" });
  }

  document.addEventListener("scroll", function (event) {
    var box = event.target;
    if (!box || box.id !== "messages") return;
    stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    // Near the top: load the 50 before (the loader's hx-trigger listens for chatOlder).
    var older = document.getElementById("older");
    if (box.scrollTop < 200 && older && !older.dataset.loading && window.htmx) {
      older.dataset.loading = "1";
      window.htmx.trigger(older, "chatOlder");
    }
  }, true);

  // Day chips ("Today", "Yesterday", "Monday", "3 November") where the thread's day moves on, and
  // runs of bubbles from one side drawn as one, as WhatsApp does. Drawn from each row's data-day
  // after every swap, so the first page, polls and older pages need nothing of their own. A late
  // message from an earlier day does not bring that day's chip back.
  var WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];
  function dayLabel(day, today) {
    var date = new Date(day + "T00:00:00Z");
    var days = Math.round((new Date(today + "T00:00:00Z") - date) / 86400000);
    if (days === 0) return "Today";
    if (days === 1) return "Yesterday";
    if (days > 1 && days < 7) return WEEKDAYS[date.getUTCDay()];
    var label = date.getUTCDate() + " " + MONTHS[date.getUTCMonth()];
    return day.slice(0, 4) === today.slice(0, 4) ? label : label + " " + day.slice(0, 4);
  }
  function markDays() {
    var list = document.getElementById("message-list");
    if (!list) return;
    var offset = Number(list.getAttribute("data-utc-offset")) || 0;
    var today = new Date(Date.now() + offset * 60000).toISOString().slice(0, 10);
    list.querySelectorAll(":scope > .day-chip").forEach(function (chip) { chip.remove(); });
    var latest = "", side = null;
    Array.prototype.slice.call(list.children).forEach(function (row) {
      var day = row.getAttribute("data-day");
      if (!day) return;
      if (day > latest) {
        var chip = document.createElement("div");
        chip.className = "day-chip";
        chip.setAttribute("role", "separator");
        chip.appendChild(document.createElement("span")).textContent = dayLabel(day, today);
        list.insertBefore(chip, row);
        latest = day;
        side = null;
      }
      var mine = row.classList.contains("msg") ? (row.className.match(/\bmsg-(inbound|outbound|internal)\b/) || [])[1] : null;
      row.classList.toggle("msg-continued", Boolean(mine) && mine === side);
      side = mine || null;
    });
  }
  document.addEventListener("DOMContentLoaded", markDays);
  document.addEventListener("htmx:afterSwap", markDays);
  document.addEventListener("htmx:oobAfterSwap", markDays);

  document.addEventListener("DOMContentLoaded", toFoundOrBottom);

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "older" && messages()) {
      fromBottom = messages().scrollHeight - messages().scrollTop;
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target) return;
    if (fromBottom !== null) {
      var box = messages();
      if (box) box.scrollTop = box.scrollHeight - fromBottom;
      fromBottom = null;
    } else if (target.id === "pane") {
      toFoundOrBottom();
      var text = target.querySelector(".composer-text");
      if (text && window.matchMedia("(min-width: 801px)").matches) text.focus();
    }
  });

  // Images decode after the swap and push the bottom down: follow it.
  document.addEventListener("load", function (event) {
    if (stick && event.target.tagName === "IMG" && event.target.closest("#messages")) toBottom();
  }, true);

  // Bubbles added or replaced by a poll keep the view at the bottom if it was there.
  document.addEventListener("htmx:oobAfterSwap", function () { if (stick) toBottom(); });

  // A changed bubble that is not on the page (it committed late): put it in id order.
  document.addEventListener("htmx:oobErrorNoTarget", function (event) {
    var bubble = event.detail.content;
    var list = document.getElementById("message-list");
    if (!list || !bubble || !bubble.classList || !bubble.classList.contains("msg")) return;
    var id = Number(bubble.dataset.id);
    var shown = list.querySelectorAll(".msg");
    // Older than what is loaded: scrolling up will load it in its place.
    if (shown.length && Number(shown[0].dataset.id) > id && document.getElementById("older")) return;
    // Between a search hit's window and the newest: the newer loader will bring it.
    var newer = document.getElementById("newer");
    if (newer && id > Number(newer.dataset.after) && id <= Number(newer.dataset.upto)) return;
    var next = Array.prototype.find.call(shown, function (m) { return Number(m.dataset.id) > id; });
    bubble.removeAttribute("hx-swap-oob");
    list.insertBefore(bubble, next || null);
    if (window.htmx) window.htmx.process(bubble);
  });

  // Canned responses: "/" at the very start of the composer asks the server (the textarea's
  // hx-get, on chatCanned) for the matching ones, already filled for this conversation; the list
  // is an ARIA listbox driven from the textarea (a combobox): ↑ ↓ move, Enter or Tab insert, Esc closes.
  var CANNED_TYPED = /^\/[A-Za-z0-9_-]{0,32}$/;
  function cannedBox(box) { return box.form && box.form.querySelector(".canned"); }
  function cannedOptions(box) {
    var list = cannedBox(box);
    return list ? Array.prototype.slice.call(list.querySelectorAll("[role=option]")) : [];
  }
  function cannedClose(box) {
    var list = cannedBox(box);
    if (list) list.innerHTML = "";
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }
  function cannedSelect(box, option) {
    cannedOptions(box).forEach(function (other) { other.setAttribute("aria-selected", other === option ? "true" : "false"); });
    box.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  }
  function cannedChoose(box, option) {
    box.value = option.getAttribute("data-text");
    cannedClose(box);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }
  // True when the key was the menu's, so the composer's own Enter (send) does not run.
  function cannedKey(event, box) {
    var options = cannedOptions(box);
    if (!options.length) return false;
    var current = options.findIndex(function (o) { return o.getAttribute("aria-selected") === "true"; });
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var step = event.key === "ArrowDown" ? 1 : -1;
      cannedSelect(box, options[(current + step + options.length) % options.length]);
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      cannedChoose(box, options[Math.max(current, 0)]);
    } else if (event.key === "Escape") {
      cannedClose(box);
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.hasAttribute || !box.hasAttribute("aria-autocomplete") || !window.htmx) return;
    if (CANNED_TYPED.test(box.value)) window.htmx.trigger(box, "chatCanned");
    else if (box.getAttribute("aria-expanded") === "true" || cannedOptions(box).length || cannedBox(box).innerHTML) cannedClose(box);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var list = event.detail.target;
    if (!list || !list.classList || !list.classList.contains("canned")) return;
    var box = list.closest("form").querySelector(".composer-text");
    if (!CANNED_TYPED.test(box.value)) { cannedClose(box); return; } // typed on meanwhile
    var options = cannedOptions(box);
    box.setAttribute("aria-expanded", options.length ? "true" : "false");
    if (options.length) cannedSelect(box, options[0]);
    else box.removeAttribute("aria-activedescendant");
  });
  document.addEventListener("mousedown", function (event) {
    var option = event.target.closest && event.target.closest(".canned [role=option]");
    if (!option) return;
    event.preventDefault(); // keep the focus in the composer
    cannedChoose(option.closest("form").querySelector(".composer-text"), option);
  });

  // Enter in a panel of the attach menu sends that panel (its own button), never the text.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || event.isComposing || !(input instanceof HTMLInputElement)) return;
    var panel = input.closest(".rich");
    if (!panel) return;
    event.preventDefault();
    panel.querySelector("button[name=kind]").click(); // a click, so htmx sends the button's kind with the form
  });

  // Enter sends, Shift+Enter is a new line; the box grows with its text.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!isTextBox(box)) return;
    if (box.hasAttribute("aria-autocomplete") && !event.isComposing && cannedKey(event, box)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.value.trim() || hasFile(box.form)) box.form.requestSubmit();
    }
  });
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!isTextBox(box)) return;
    if (box.form && box.form.id === "composer") typing();
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight, 140) + "px";
  });
  document.addEventListener("submit", function (event) {
    if (event.target.id === "composer") stick = true;
  }, true);

  // WhatsApp's 4,096-character limit (data-max, from chat.forms.BODY_MAX) is shown, never enforced
  // by cutting: a counter appears near it and turns to an error past it; the server says the same.
  // Characters are counted as Python counts them (code points), not as UTF-16 units.
  var NEAR_LIMIT = 0.9;
  function countLength(box) {
    var max = Number(box.getAttribute("data-max"));
    var out = box.form && box.form.querySelector(".composer-count");
    if (!max || !out) return;
    var length = Array.from(box.value.trim()).length; // the server counts the trimmed text too
    out.hidden = length < max * NEAR_LIMIT;
    var over = length > max;
    out.textContent = length.toLocaleString("en-US") + " / " + max.toLocaleString("en-US") +
      (over ? " · " + (length - max).toLocaleString("en-US") + " too many" : "");
    out.classList.toggle("over", over);
    box.setAttribute("aria-invalid", over ? "true" : "false");
  }
  document.addEventListener("input", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-max")) countLength(event.target);
  });
  // A composer that comes back holding text (a refused send) is sized and counted at once.
  function countAll() {
    document.querySelectorAll(".composer-text[data-max]").forEach(function (box) {
      countLength(box);
      if (box.value) { box.style.height = "auto"; box.style.height = Math.min(box.scrollHeight, 140) + "px"; }
    });
  }
  document.addEventListener("DOMContentLoaded", countAll);
  document.addEventListener("htmx:afterSettle", countAll);

  function isTextBox(box) {
    return box.classList && (box.classList.contains("composer-text") || box.classList.contains("note-text"));
  }

  function hasFile(form) {
    var input = form && form.querySelector(".file-input");
    return !!(input && input.files && input.files.length);
  }

  // chat.media_rules, rendered into the composer: the same table and words the server checks with.
  function mediaRules() {
    var node = document.getElementById("media-limits");
    return node ? JSON.parse(node.textContent) : { rules: [], extensions: {}, words: {} };
  }

  function mimeOf(file, table) {
    var mime = (file.type || "").split(";")[0].trim().toLowerCase();
    if (mime && mime !== "application/octet-stream") return mime;
    var dot = file.name.lastIndexOf(".");
    return (dot === -1 ? "" : table.extensions[file.name.slice(dot).toLowerCase()]) || mime ||
      "application/octet-stream";
  }

  // The rule a file is judged by: its MIME type's, else the type it looks like (as chat.media_rules.media_type_for).
  function ruleFor(mime, rules) {
    var major = mime.split("/")[0];
    var guess = ["image", "video", "audio"].indexOf(major) === -1 ? "document" : major;
    var byType = null;
    for (var i = 0; i < rules.length; i++) {
      if (rules[i].mimes.indexOf(mime) !== -1) return rules[i];
      if (rules[i].type === guess) byType = rules[i];
    }
    return byType;
  }

  // A sticker's static limit needs its header, which the server reads; here only the larger limit applies.
  function problem(file) {
    var table = mediaRules();
    var mime = mimeOf(file, table);
    var rule = ruleFor(mime, table.rules);
    if (!rule) return "";
    if (rule.mimes.indexOf(mime) === -1) {
      return table.words.wrong_type.replace("{mime}", mime.slice(0, 60)).replace("{noun}", rule.noun) +
        " " + rule.message;
    }
    if (file.size === 0) return table.words.empty;
    if (file.size > rule.max) return table.words.too_large + " " + rule.message;
    return "";
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function showFile(form) {
    var input = form.querySelector(".file-input");
    var chip = form.querySelector(".attachment");
    var error = form.querySelector(".client-error");
    var text = form.querySelector(".composer-text");
    var file = input.files && input.files[0];
    error.hidden = true;
    if (!file) { chip.hidden = true; text.placeholder = "Type a message"; return; }
    var why = problem(file);
    if (why) {
      input.value = "";
      chip.hidden = true;
      error.textContent = why;
      error.hidden = false;
      return;
    }
    chip.querySelector(".attachment-name").textContent = file.name + " · " + size(file.size);
    chip.hidden = false;
    text.placeholder = "Add a caption";
    text.focus();
  }

  document.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("file-input")) showFile(event.target.form);
  });
  document.addEventListener("click", function (event) {
    var clear = event.target.closest && event.target.closest(".attachment-clear");
    if (!clear) return;
    clear.form.querySelector(".file-input").value = "";
    showFile(clear.form);
  });

  // Drag a file onto the conversation to attach it.
  function pane(event) {
    var node = event.target.closest && event.target.closest(".pane");
    return node && node.querySelector(".file-input") ? node : null;
  }
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var node = pane(event);
      if (!node || !event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") === -1) return;
      event.preventDefault();
      node.classList.add("dragging");
    });
  });
  document.addEventListener("dragleave", function (event) {
    var node = pane(event);
    if (node && !node.contains(event.relatedTarget)) node.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    var node = pane(event);
    if (!node) return;
    event.preventDefault();
    node.classList.remove("dragging");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    var input = node.querySelector(".file-input");
    var transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    showFile(input.form);
  });

  // The tab title carries what concerns me (my and unassigned unread conversations, my mentions),
  // read from the conversation list after each of its renders.
  var baseTitle = document.title.replace(/^\(\d+\+?\) /, "");
  function showTitleCount() {
    var mark = document.getElementById("inbox-title-count");
    if (!mark) return;
    var count = parseInt(mark.getAttribute("data-count"), 10) || 0;
    baseTitle = document.title.replace(/^\(\d+\+?\) /, "");
    document.title = (count ? "(" + (count > 99 ? "99+" : count) + ") " : "") + baseTitle;
  }
  document.addEventListener("htmx:afterSettle", showTitleCount);
  showTitleCount();

  // Reply or private note: the pane's mode shows one composer or the other (CSS), across swaps.
  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest(".composer-tab");
    if (!tab) return;
    var pane = tab.closest(".pane");
    pane.setAttribute("data-mode", tab.getAttribute("data-mode"));
    pane.querySelectorAll(".composer-tab").forEach(function (other) {
      other.setAttribute("aria-selected", other === tab ? "true" : "false");
    });
    var box = pane.querySelector(tab.getAttribute("data-mode") === "note" ? ".note-text" : "#composer .composer-text");
    if (box) box.focus();
  });

  // The template form's preview shows each value as it is typed, in place of its {{n}}.
  document.addEventListener("input", function (event) {
    var input = event.target;
    var fields = input.closest && input.closest(".template-fields");
    if (!fields || !input.name) return;
    fields.querySelectorAll(".template-slot").forEach(function (slot) {
      if (slot.getAttribute("data-param") !== input.name) return;
      slot.textContent = input.value.trim() || slot.getAttribute("data-placeholder");
      slot.classList.toggle("filled", Boolean(input.value.trim()));
    });
  });

  // Colleagues see "… is replying" while this user types (chat.presence): at most one report every 4 s.
  var lastTyping = 0;
  function typing() {
    var form = document.getElementById("presence");
    if (!form || !window.htmx || Date.now() - lastTyping < 4000) return;
    lastTyping = Date.now();
    form.querySelector("[name=typing]").value = "1";
    window.htmx.trigger(form, "chatTyping");
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "presence" && Date.now() - lastTyping > 6000) form.querySelector("[name=typing]").value = "0";
  });

  // Notifications: each sidebar render carries the state (#notify-state) of what concerns me;
  // what is new since the last render becomes a desktop notification and/or a sound, as the
  // bell's switches say. Nothing on the first render: that is what was there already.
  var known = null;
  function notifyState() {
    var node = document.getElementById("notify-state");
    return node ? JSON.parse(node.dataset.state) : null;
  }
  function snapshot(state) {
    var seen = { conversations: {}, mentions: {} };
    state.conversations.forEach(function (c) { seen.conversations[c.id] = c.unread; });
    state.mentions.forEach(function (m) { seen.mentions[m.id] = true; });
    return seen;
  }
  function looking(conversationId) {
    var pane = document.getElementById("pane");
    return document.visibilityState === "visible" && pane && Number(pane.getAttribute("data-conversation")) === conversationId;
  }
  function fresh(state) {
    var news = [];
    state.conversations.forEach(function (c) {
      if (c.unread > (known.conversations[c.id] || 0) && !looking(c.id)) {
        news.push({ title: c.title, body: c.body, conversation: c.id, tag: "chat-" + c.id + "-" + c.unread });
      }
    });
    state.mentions.forEach(function (m) {
      if (!known.mentions[m.id]) news.push({ title: m.title, body: m.body, conversation: m.conversation, tag: "mention-" + m.id });
    });
    return news;
  }
  function bell() { return document.getElementById("bell-settings"); }
  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    var audio = new Context();
    var tone = audio.createOscillator();
    var volume = audio.createGain();
    tone.frequency.value = 880;
    volume.gain.setValueAtTime(0.15, audio.currentTime);
    volume.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    tone.connect(volume).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.35);
  }
  function announce(news) {
    var switches = bell();
    if (!switches || !news.length) return;
    if (switches.getAttribute("data-desktop") === "1" && "Notification" in window && Notification.permission === "granted") {
      news.forEach(function (item) {
        var shown = new Notification(item.title, { body: item.body, tag: item.tag });
        shown.onclick = function () {
          window.focus();
          window.location.href = switches.getAttribute("data-open-url").replace(/0\/$/, item.conversation + "/");
        };
      });
    }
    if (switches.getAttribute("data-sound") === "1") beep();
  }
  function compareState() {
    var state = notifyState();
    if (!state) return;
    if (known !== null) announce(fresh(state));
    known = snapshot(state);
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "conversation-list") compareState();
  });
  compareState();

  // The bell: the browser asks for permission only after this click, never on load.
  function showPermission() {
    var line = document.querySelector(".bell-permission");
    if (!line) return;
    var state = "Notification" in window ? Notification.permission : "unsupported";
    var words = {
      denied: "This browser blocks notifications from this site: allow them in its site settings.",
      unsupported: "This browser cannot show desktop notifications.",
    };
    line.textContent = words[state] || "";
    line.hidden = !words[state];
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".bell-button");
    if (!button) return;
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().then(showPermission);
    }
    showPermission();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.elt && event.detail.elt.id === "bell-settings") showPermission();
  });

  // A bubble's menu opens downward, unless that would put it under the composer (the last
  // bubbles): then it opens upward. "toggle" does not bubble, so it is caught on the way down.
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!(menu instanceof HTMLDetailsElement) || !menu.classList.contains("msg-menu")) return;
    menu.classList.remove("opens-up");
    var panel = menuPanel(menu) || menu.querySelector("summary + *");
    var box = messages();
    if (!menu.open || !panel || !box) return;
    var room = box.getBoundingClientRect();
    var below = room.bottom - menu.getBoundingClientRect().bottom;
    var above = menu.getBoundingClientRect().top - room.top;
    if (panel.getBoundingClientRect().bottom > room.bottom && above > below) menu.classList.add("opens-up");
    // On a narrow screen the panel may stick out at a side: slide it back inside the thread.
    panel.style.transform = "";
    var edge = panel.getBoundingClientRect();
    var shift = Math.min(0, room.right - 8 - edge.right);
    shift = Math.max(shift, room.left + 8 - edge.left);
    if (shift) panel.style.transform = "translateX(" + Math.round(shift) + "px)";
  }, true);

  // A bubble's menu: Reply, the reactions and Copy text come from one shared copy in the pane
  // (template#msg-actions), cloned into the menu the first time it opens; the bubble itself only
  // says whether WhatsApp knows it (data-wa: it can be quoted and reacted to).
  function menuPanel(menu) {
    var panel = menu.querySelector(".msg-panel");
    var source = document.getElementById("msg-actions");
    if (panel || !source) return panel;
    var row = menu.closest(".msg");
    panel = source.content.firstElementChild.cloneNode(true);
    var link = menu.querySelector(".link-form");
    if (link) panel.appendChild(link);
    menu.querySelector("summary").after(panel);
    panel.querySelector("[name=message]").value = row.getAttribute("data-id");
    // Outside the 24-hour window (the composer offers templates only, no quote strip) WhatsApp takes
    // neither a reply nor a reaction; the server refuses them too.
    var known = row.hasAttribute("data-wa") && Boolean(document.querySelector("#composer .reply-strip"));
    panel.querySelector(".react-form").hidden = !known;
    panel.querySelector(".act-reply").hidden = !known;
    // The clipboard needs a secure context (https, or localhost).
    panel.querySelector(".act-copy").hidden = !navigator.clipboard || !row.querySelector(".bubble > .text");
    var mine = row.querySelector(".reaction-outbound");
    panel.querySelectorAll(".react").forEach(function (button) {
      var chosen = Boolean(mine) && mine.textContent === button.value;
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
      if (chosen) { button.value = ""; button.title = "Remove your reaction"; }
    });
    if (window.htmx) window.htmx.process(panel);
    return panel;
  }
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!(menu instanceof HTMLDetailsElement) || !menu.classList.contains("msg-menu") || !menu.open) return;
    menuPanel(menu);
    // One menu open at a time.
    document.querySelectorAll(".msg-menu[open]").forEach(function (other) { if (other !== menu) other.open = false; });
  }, true);

  function bubbleText(row) {
    var text = row.querySelector(".bubble > .text");
    return text ? text.innerText.trim() : "";
  }

  // Reply: the quote strip above the composer; the send carries the quoted message's id.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".act-reply");
    if (!button) return;
    var row = button.closest(".msg");
    var strip = document.querySelector("#composer .reply-strip");
    if (!row || !strip) return;
    var outbound = row.classList.contains("msg-outbound");
    var kind = (row.querySelector(".bubble").className.match(/\bbubble-(\w+)/) || [])[1] || "message";
    var text = bubbleText(row) || kind.charAt(0).toUpperCase() + kind.slice(1);
    strip.querySelector("[name=reply_to]").value = row.getAttribute("data-id");
    var quote = strip.querySelector(".reply-quote");
    quote.className = "reply-quote quote-" + (outbound ? "outbound" : "inbound");
    quote.querySelector(".quote-who").textContent = outbound ? "You" : strip.getAttribute("data-customer");
    quote.querySelector(".quote-text").textContent = text.length > 160 ? text.slice(0, 159) + "…" : text;
    strip.hidden = false;
    button.closest(".msg-menu").open = false;
    var box = document.querySelector("#composer .composer-text");
    if (box) box.focus();
  });
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest && event.target.closest(".reply-cancel");
    if (!cancel) return;
    var strip = cancel.closest(".reply-strip");
    strip.querySelector("[name=reply_to]").value = "";
    strip.hidden = true;
  });

  // Copy text: the bubble's text as shown, to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".act-copy");
    if (!button || !navigator.clipboard) return;
    var label = button.textContent;
    navigator.clipboard.writeText(bubbleText(button.closest(".msg"))).then(function () {
      button.textContent = "Copied";
      setTimeout(function () {
        button.textContent = label;
        var menu = button.closest(".msg-menu");
        if (menu) menu.open = false;
      }, 800);
    }, function () { button.textContent = "Copy failed"; });
  });

  // A picture the browser cannot decode (a damaged file, a format it lacks) would leave a blank gap
  // in the thread: say what it was instead, and keep the file one click away.
  function undecodable(img) {
    var what = img.classList.contains("media-sticker") ? "A sticker" : "A photo";
    var link = document.createElement("a");
    link.className = "media-placeholder media-undecodable";
    link.href = img.getAttribute("src");
    link.setAttribute("download", "");
    link.textContent = what + " this browser can't show · Download";
    (img.closest(".media-link") || img).replaceWith(link);
  }
  var PICTURES = ".media-sticker, .media-image";
  document.addEventListener("error", function (event) {
    if (event.target instanceof HTMLImageElement && event.target.matches(PICTURES)) undecodable(event.target);
  }, true);
  // Those that failed before this script ran (it is deferred).
  document.querySelectorAll(PICTURES).forEach(function (img) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) undecodable(img);
  });
})();
