"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("copy-status");
  const textOf = (id) => Array.from(document.querySelectorAll("#" + id + " code")).map((n) => n.textContent).join("\n");
  document.querySelectorAll("[data-copy-target]").forEach((button) => {
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(textOf(button.dataset.copyTarget) + "\n");
        if (status) status.textContent = "Copied.";
      } catch (e) {
        if (status) status.textContent = "Copy failed: select the codes and copy them by hand.";
      }
    });
  });
  document.querySelectorAll("[data-download-target]").forEach((button) => {
    button.addEventListener("click", () => {
      const blob = new Blob([textOf(button.dataset.downloadTarget) + "\n"], { type: "text/plain" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = button.dataset.filename || "codes.txt";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
      if (status) status.textContent = "Downloaded.";
    });
  });
  document.querySelectorAll("[data-enables]").forEach((box) => {
    const target = document.getElementById(box.dataset.enables);
    if (!target) return;
    const sync = () => { target.disabled = !box.checked; };
    box.addEventListener("change", sync);
    sync();
  });

  document.querySelectorAll("[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
  setUpToasts();
  setUpLocalTimes();
  fillSharedMenus();
  setUpMenus();
  setUpMembers();
  setUpMemberActions();
  setUpJobPolling();
});

// A toast (role="status": read out politely) is dismissed with its ×; focus then goes to the main content.
function setUpToasts() {
  document.querySelectorAll("[data-toast]").forEach((toast) => {
    toast.querySelector("[data-dismiss-toast]").addEventListener("click", () => {
      toast.remove();
      const main = document.getElementById("main");
      if (main) { main.setAttribute("tabindex", "-1"); main.focus({ preventScroll: true }); }
    });
  });
  const changed = document.querySelector("tr.row-changed");
  if (changed) changed.scrollIntoView({ block: "nearest" });
}

// Times written in UTC by the server are shown in the reader's own time zone; the UTC time stays in the title.
function setUpLocalTimes() {
  const times = document.querySelectorAll("time[data-local]");
  if (times.length === 0) return;
  const format = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
  times.forEach((node) => {
    const date = new Date(node.getAttribute("datetime"));
    if (!isNaN(date)) node.textContent = format.format(date);
  });
  const note = document.getElementById("time-zone-note");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (note && zone) note.textContent = `Newest first. Times are in your time zone (${zone}); hover over one for UTC.`;
}

// The Members table writes the items every plain row's ⋮ menu shares once per status, in a <template>: each such
// menu names its template (data-items) and gets its own copy before the menus are set up.
function fillSharedMenus() {
  document.querySelectorAll("ul[data-items]").forEach((list) => {
    const items = document.getElementById("menu-items-" + list.dataset.items);
    if (items) list.append(items.content.cloneNode(true));
  });
}

// The member a ⋮ item acts on: named by the table's row, or by the menu itself on a member's page.
function memberOf(item) {
  const data = item.closest("[data-member], tr[data-member-id]").dataset;
  return { id: data.member || data.memberId, name: data.name, email: data.email, roleId: data.roleId };
}

// Menu buttons: click or Enter/Space/ArrowDown opens, arrows move, Escape closes and returns focus.
function setUpMenus() {
  const buttons = document.querySelectorAll("button[aria-haspopup=menu]");
  const closeAll = (except) => buttons.forEach((b) => { if (b !== except) closeMenu(b, false); });
  buttons.forEach((button) => {
    const menu = document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) return;
    const items = () => Array.from(menu.querySelectorAll("[role=menuitem]"));
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      const open = button.getAttribute("aria-expanded") === "true";
      closeAll(button);
      if (open) closeMenu(button, true); else openMenu(button, 0);
    });
    button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        closeAll(button);
        openMenu(button, event.key === "ArrowUp" ? items().length - 1 : 0);
      }
    });
    menu.addEventListener("keydown", (event) => {
      const list = items();
      const index = list.indexOf(document.activeElement);
      if (event.key === "ArrowDown") { event.preventDefault(); list[(index + 1) % list.length].focus(); }
      else if (event.key === "ArrowUp") { event.preventDefault(); list[(index - 1 + list.length) % list.length].focus(); }
      else if (event.key === "Home") { event.preventDefault(); list[0].focus(); }
      else if (event.key === "End") { event.preventDefault(); list[list.length - 1].focus(); }
      else if (event.key === "Escape" || event.key === "Tab") { if (event.key === "Escape") event.preventDefault(); closeMenu(button, event.key === "Escape"); }
    });
  });
  document.addEventListener("click", () => closeAll(null));
}
function openMenu(button, index) {
  const menu = document.getElementById(button.getAttribute("aria-controls"));
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  placeMenu(button, menu);
  const list = menu.querySelectorAll("[role=menuitem]");
  if (list[index]) list[index].focus({ preventScroll: true });
}
// A row's menu floats above the table's scroll area (which would clip it), under its row at the button's
// right edge, or above the row when there is no room below.
function placeMenu(button, menu) {
  if (!button.closest(".table-wrap")) return;
  menu.classList.add("menu-floating");
  const anchor = button.getBoundingClientRect();
  // Below (or above) the whole row, so the menu never covers the row's own cells.
  const row = button.closest("tr");
  const edge = row ? row.getBoundingClientRect() : anchor;
  const below = edge.bottom + 2;
  const top = below + menu.offsetHeight > window.innerHeight && edge.top - 2 - menu.offsetHeight > 0
    ? edge.top - 2 - menu.offsetHeight : below;
  menu.style.top = `${top}px`;
  menu.style.left = `${Math.max(4, anchor.right - menu.offsetWidth)}px`;
}
const placeOpenMenus = () => document.querySelectorAll("button[aria-haspopup=menu][aria-expanded=true]")
  .forEach((button) => placeMenu(button, document.getElementById(button.getAttribute("aria-controls"))));
window.addEventListener("resize", placeOpenMenus);
window.addEventListener("scroll", placeOpenMenus, true);
function closeMenu(button, focusButton) {
  const menu = document.getElementById(button.getAttribute("aria-controls"));
  if (!menu || menu.hidden) return;
  menu.hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (focusButton) button.focus();
}

// The ⋮ actions on one member (in the Members table and on a member's page): each opens its dialog.
function setUpMemberActions() {
  // ⋮ → Reset MFA: the single-member modal.
  const single = document.getElementById("single-reset");
  document.querySelectorAll("[data-reset-member]").forEach((item) => {
    item.addEventListener("click", () => {
      if (item.dataset.disabled) return;
      const button = document.getElementById(item.closest("ul").getAttribute("aria-labelledby"));
      closeMenu(button, false);
      const who = memberOf(item);
      fill(single, { "member-id": who.id, name: who.name, email: who.email, first: who.name.split(" ")[0] });
      openDialog(single, button);
    });
  });

  // ⋮ → Change role…, Suspend, Reactivate, Remove…: one confirmation dialog each.
  document.querySelectorAll("[data-lifecycle]").forEach((item) => {
    item.addEventListener("click", () => {
      if (item.dataset.disabled) return;
      const dialog = document.getElementById("lifecycle-" + item.dataset.lifecycle);
      if (!dialog) return;
      const button = document.getElementById(item.closest("ul").getAttribute("aria-labelledby"));
      closeMenu(button, false);
      const who = memberOf(item);
      fill(dialog, { "member-id": who.id, name: who.name, email: who.email, first: who.name.split(" ")[0],
        "role-id": who.roleId });
      openDialog(dialog, button);
    });
  });

  setUpInvite();
}

// Invite members: the dialog, a CSV file read into the text, and a preview of how many will be invited.
function setUpInvite() {
  const dialog = document.getElementById("invite-dialog");
  const opener = document.querySelector("[data-open-invite]");
  if (!dialog || !opener) return;
  const text = document.getElementById("invite-emails");
  const role = document.getElementById("invite-role");
  const preview = document.getElementById("invite-preview");
  const update = () => {
    const lines = text.value.split(/\r?\n/).map((l) => l.trim())
      .filter((l) => l && !/^email\s*(,|$)/i.test(l));
    const people = lines.reduce((n, l) => {
      const fields = l.split(",");
      return n + (fields.length > 1 && fields[1].includes("@") || (fields.length === 1 && /[;\s]/.test(l))
        ? l.split(/[,;\s]+/).filter((e) => e).length : 1);
    }, 0);
    const roleName = role.options[role.selectedIndex] ? role.options[role.selectedIndex].text : "";
    preview.textContent = people === 0 ? "" :
      `${people.toLocaleString()} ${people === 1 ? "person" : "people"} will be invited; lines without a role as ${roleName}.`;
  };
  text.addEventListener("input", update);
  role.addEventListener("change", update);
  const file = dialog.querySelector("[data-invite-file]");
  file.addEventListener("change", () => {
    if (!file.files[0]) return;
    const reader = new FileReader();
    reader.onload = () => { text.value = String(reader.result); update(); };
    reader.readAsText(file.files[0]);
  });
  opener.addEventListener("click", () => { openDialog(dialog, opener); });
}

function setUpMembers() {
  const table = document.getElementById("members-table");
  if (!table) return;
  const rows = Array.from(table.querySelectorAll("tbody .row-check"));
  const pageBox = document.getElementById("select-page");
  const bar = document.getElementById("selection-bar");
  const actions = document.getElementById("actions-button");
  const total = Number(bar.dataset.total);
  let allMatching = false;
  const selected = () => rows.filter((box) => box.checked);
  const plural = (n) => n === 1 ? "member" : "members";
  const render = () => {
    const count = allMatching ? total : selected().length;
    rows.forEach((box) => box.closest("tr").classList.toggle("selected", box.checked));
    if (actions) actions.disabled = count === 0;
    if (pageBox) {
      pageBox.checked = rows.length > 0 && selected().length === rows.length;
      pageBox.indeterminate = selected().length > 0 && selected().length < rows.length;
    }
    bar.textContent = "";
    if (allMatching) {
      bar.append(`All ${total.toLocaleString()} matching members are selected. `);
      bar.append(linkButton("Clear selection", () => { allMatching = false; rows.forEach((b) => { b.checked = false; }); render(); }));
      bar.hidden = false;
    } else if (rows.length > 0 && selected().length === rows.length && total > rows.length) {
      bar.append(`${rows.length} ${plural(rows.length)} on this page are selected. `);
      if (bar.dataset.capped === "true") {
        bar.append(`More than ${Number(bar.dataset.maximum).toLocaleString()} members match: narrow the search to reset them all at once.`);
      } else {
        bar.append(linkButton(`Select all ${total.toLocaleString()} members that match`, () => { allMatching = true; render(); }));
      }
      bar.hidden = false;
    } else if (selected().length > 0) {
      bar.append(`${selected().length} ${plural(selected().length)} selected.`);
      bar.hidden = false;
    } else {
      bar.hidden = true;
    }
  };
  rows.forEach((box) => box.addEventListener("change", () => { allMatching = false; render(); }));
  if (pageBox) pageBox.addEventListener("change", () => { allMatching = false; rows.forEach((b) => { b.checked = pageBox.checked; }); render(); });

  // Actions → Reset MFA, Change role…, Suspend, Reactivate, Remove…: one bulk dialog each, filled the same way.
  const openBulk = (bulk) => {
    closeMenu(actions, false);
    const chosen = selected();
    const count = allMatching ? total : chosen.length;
    const targets = bulk.querySelector("[data-field=targets]");
    targets.textContent = "";
    const hidden = (name, value) => { const input = document.createElement("input"); input.type = "hidden"; input.name = name; input.value = value; targets.append(input); };
    if (allMatching) {
      hidden("scope", "all");
      // The number confirmed: the server refuses if the filter matches another number by the time it acts.
      hidden("expectedCount", String(total));
      filterParams().forEach((value, key) => hidden(key, value));
    } else {
      chosen.forEach((box) => hidden("memberId", box.value));
    }
    const names = (allMatching ? rows : chosen).map((box) => box.closest("tr").dataset.name);
    const shown = names.slice(0, 5);
    const more = count - shown.length;
    const scope = count === 1 ? "the 1 selected member" : `all ${count.toLocaleString()} selected members`;
    fill(bulk, { count: count.toLocaleString(), noun: plural(count), scope, names: shown.join(", ") + (more > 0 ? ` and ${more.toLocaleString()} more` : "") });
    const submit = bulk.querySelector("[data-field=submit]");
    submit.textContent = `${bulk.dataset.verb} ${count.toLocaleString()} ${plural(count)}`;
    const confirmBox = bulk.querySelector("[data-field=confirm-count]");
    const confirmInput = bulk.querySelector("[data-field=confirm-input]");
    const mismatch = bulk.querySelector("[data-field=confirm-mismatch]");
    confirmInput.value = "";
    mismatch.textContent = "";
    if (count > Number(bulk.dataset.typedConfirmationAbove)) {
      confirmBox.hidden = false;
      confirmInput.required = true;
      confirmInput.pattern = String(count);
      submit.disabled = true;
      confirmInput.oninput = () => {
        const typed = confirmInput.value.trim();
        submit.disabled = typed !== String(count);
        // Said once the administrator has typed as many digits as the number has, not at every keystroke.
        mismatch.textContent = typed.length >= String(count).length && typed !== String(count)
          ? `${typed} does not match: type ${count} to confirm.` : "";
        confirmInput.setAttribute("aria-invalid", mismatch.textContent ? "true" : "false");
      };
    } else {
      confirmBox.hidden = true;
      confirmInput.required = false;
      confirmInput.removeAttribute("pattern");
      submit.disabled = false;
    }
    previewSkips(bulk, allMatching ? null : chosen, count);
    openDialog(bulk, actions);
  };
  const bulkItem = document.querySelector("[data-bulk-reset]");
  if (bulkItem) bulkItem.addEventListener("click", () => openBulk(document.getElementById("bulk-reset")));
  document.querySelectorAll("[data-bulk-lifecycle]").forEach((item) => {
    item.addEventListener("click", () => openBulk(document.getElementById("bulk-" + item.dataset.bulkLifecycle)));
  });
  render();
}
// The page's filter (search, role, MFA, status) as "select all N matching" sends it to the server.
function filterParams() {
  const params = new URLSearchParams();
  new URLSearchParams(window.location.search).forEach((value, key) => {
    if (["query", "role", "mfa", "status"].includes(key)) params.set(key, value);
  });
  return params;
}
// Reset MFA for a selection: how many of it have no MFA and will be skipped — counted from the rows, or for
// "all matching" asked of the server for the page's filter.
async function previewSkips(bulk, chosen, count) {
  const skip = bulk.querySelector("[data-field=skip]");
  if (!skip) return;
  const say = (withMFA) => {
    const skipped = count - withMFA;
    skip.textContent = skipped <= 0 ? "" : skipped === count
      ? `None of them has MFA set up: all ${count.toLocaleString()} will be skipped and nothing changed.`
      : `${skipped.toLocaleString()} of them ${skipped === 1 ? "has" : "have"} no MFA set up and will be skipped.`;
  };
  if (chosen) { say(chosen.filter((box) => box.closest("tr").dataset.mfa === "enabled").length); return; }
  skip.textContent = "Counting members without MFA…";
  try {
    const response = await fetch(bulk.dataset.selection + "?" + filterParams().toString(), { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    say(data.withMFA);
  } catch (e) { skip.textContent = ""; }
}
function linkButton(label, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link-button";
  button.textContent = label;
  button.addEventListener("click", onClick);
  return button;
}
function fill(dialog, values) {
  Object.entries(values).forEach(([key, value]) => {
    dialog.querySelectorAll(`[data-field="${key}"]`).forEach((node) => {
      if (node.tagName === "INPUT" || node.tagName === "SELECT") node.value = value; else node.textContent = value;
    });
  });
}
// A modal <dialog> traps focus (Tab and Shift+Tab wrap inside it) and closes on Escape; focus returns
// to what opened it.
function openDialog(dialog, opener) {
  dialog.querySelectorAll("[data-close]").forEach((b) => { b.onclick = () => dialog.close(); });
  dialog.onkeydown = (event) => {
    if (event.key !== "Tab") return;
    const focusable = Array.from(dialog.querySelectorAll(
      "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])"))
      .filter((node) => !node.disabled && node.getClientRects().length > 0);
    if (focusable.length === 0) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  };
  dialog.addEventListener("close", () => { if (opener) opener.focus(); }, { once: true });
  dialog.showModal();
  // A confirmation opens on its least destructive choice (Cancel); a form to fill in, on its first field.
  const first = dialog.dataset.confirm !== undefined ? dialog.querySelector("[data-close]")
    : dialog.querySelector("input:not([type=hidden]), textarea, select, button");
  if (first) first.focus();
}

// A background reset's progress: poll the job, show the share done and the time left, reload when it ends.
// Waits longer after each failure (up to 30 s) and stops for good when the session is gone.
function setUpJobPolling() {
  const job = document.getElementById("job");
  if (!job) return;
  const bar = document.getElementById("job-progress");
  const percent = document.getElementById("job-percent");
  const count = document.getElementById("job-count");
  const eta = document.getElementById("job-eta");
  const status = document.getElementById("job-status");
  const samples = [];
  let delay = 1000;
  const left = (data) => {
    samples.push({ at: Date.now(), processed: data.processed });
    while (samples.length > 20) samples.shift();
    const first = samples[0];
    const last = samples[samples.length - 1];
    const rate = (last.processed - first.processed) / Math.max(1, (last.at - first.at) / 1000);
    if (rate <= 0) return "estimating time left…";
    const seconds = Math.ceil((data.total - data.processed) / rate);
    return seconds < 60 ? "less than a minute left" : `about ${Math.ceil(seconds / 60)} min left`;
  };
  const tick = async () => {
    let response;
    try {
      response = await fetch(job.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (e) {
      status.textContent = "Can't reach the server; trying again…";
      delay = Math.min(delay * 2, 30000);
      setTimeout(tick, delay);
      return;
    }
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      status.textContent = response.status === 404 ? "This job is no longer available."
        : "Your session has ended: sign in again to see the results. The reset continues on the server.";
      job.dataset.stopped = "true";
      return;
    }
    if (!response.ok) {
      delay = Math.min(delay * 2, 30000);
      setTimeout(tick, delay);
      return;
    }
    delay = 1000;
    status.textContent = "";
    const data = await response.json();
    bar.value = data.processed;
    const share = data.total === 0 ? 100 : Math.floor(data.processed * 100 / data.total);
    percent.textContent = `${share}%`;
    count.textContent = `${data.processed.toLocaleString()} of ${data.total.toLocaleString()} members`;
    eta.textContent = left(data);
    if (data.status !== "running") { window.location.reload(); return; }
    setTimeout(tick, delay);
  };
  setTimeout(tick, delay);
}
