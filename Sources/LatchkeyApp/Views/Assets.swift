/// The stylesheet and script, served from memory: nothing is fetched from elsewhere.
enum Assets {
    static let css = #"""
        :root {
          --bg: #f6f7f9; --surface: #ffffff; --text: #1d2430; --muted: #5a6474; --border: #d9dee6;
          --accent: #2456c7; --accent-dark: #1a419a; --danger: #b42318; --danger-dark: #8f1c13;
          --success: #116a3a; --success-bg: #e7f5ed; --warning: #8a4b00; --warning-bg: #fff3df;
          --error-bg: #fdecea; --focus: #f0b400; --radius: 8px;
          font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
          font-size: 15px; color: var(--text); background: var(--bg);
        }
        * { box-sizing: border-box; }
        body { margin: 0; line-height: 1.5; min-height: 100vh; display: flex; flex-direction: column; }
        h1 { font-size: 1.5rem; margin: 0 0 1rem; }
        h2 { font-size: 1.1rem; margin: 0 0 .75rem; }
        a { color: var(--accent); }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
        .skip-link { position: absolute; left: -999px; top: 0; background: var(--surface); padding: .5rem 1rem; }
        .skip-link:focus { left: 1rem; z-index: 10; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0; overflow: hidden;
          clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
        .muted { color: var(--muted); }
        .topbar { display: flex; align-items: center; gap: 1.25rem; padding: .6rem 1.25rem; background: var(--surface);
          border-bottom: 1px solid var(--border); }
        .brand { display: flex; align-items: center; gap: .5rem; font-weight: 700; color: var(--text); text-decoration: none; }
        .brand-mark { display: inline-grid; place-items: center; width: 1.8rem; height: 1.8rem; border-radius: 6px;
          background: var(--accent); color: #fff; font-weight: 700; }
        .org-name { font-weight: 600; padding-left: 1.25rem; border-left: 1px solid var(--border); }
        .account { margin-left: auto; display: flex; align-items: center; gap: .75rem; }
        .shell { display: flex; flex: 1; }
        .sidenav { width: 14rem; flex-shrink: 0; background: var(--surface); border-right: 1px solid var(--border); padding: 1rem .5rem; }
        .sidenav ul { list-style: none; margin: 0; padding: 0; }
        .sidenav a { white-space: nowrap; display: block; padding: .5rem .75rem; border-radius: 6px; color: var(--text); text-decoration: none; }
        .sidenav a:hover { background: var(--bg); }
        .sidenav a[aria-current="page"] { background: #e8eefc; color: var(--accent-dark); font-weight: 600; }
        .content { flex: 1; min-width: 0; padding: 1.5rem 2rem; max-width: 72rem; }
        .card { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); padding: 1.5rem; }
        .section { margin-bottom: 1.25rem; }
        .auth-shell { width: 100%; max-width: 26rem; margin: 3rem auto; padding: 0 1rem; }
        .auth-shell:has(.auth-card-wide) { max-width: 36rem; }
        .auth-brand { display: flex; align-items: center; gap: .5rem; font-weight: 700; font-size: 1.2rem; margin-bottom: 1rem; justify-content: center; }
        .stack { display: flex; flex-direction: column; gap: .5rem; }
        .stack.narrow { max-width: 22rem; }
        label { font-weight: 600; }
        input[type=email], input[type=password], input:not([type]), input[type=text] {
          font: inherit; padding: .55rem .7rem; border: 1px solid #8a94a6; border-radius: 6px; background: #fff; color: var(--text); }
        .code-input { letter-spacing: .3em; font-size: 1.2rem; font-variant-numeric: tabular-nums; max-width: 12rem; }
        .button { font: inherit; display: inline-flex; align-items: center; justify-content: center; gap: .4rem;
          padding: .5rem 1rem; border-radius: 6px; border: 1px solid #8a94a6; background: var(--surface); color: var(--text);
          cursor: pointer; text-decoration: none; font-weight: 600; }
        .button:hover { background: var(--bg); }
        .button-primary { background: var(--accent); border-color: var(--accent); color: #fff; }
        .button-primary:hover { background: var(--accent-dark); }
        .button-danger { background: var(--danger); border-color: var(--danger); color: #fff; }
        .button-danger:hover { background: var(--danger-dark); }
        .button-quiet { border-color: transparent; background: transparent; }
        .button-small { padding: .25rem .6rem; font-size: .9rem; }
        .button:disabled { opacity: .55; cursor: not-allowed; }
        .stack .button { align-self: flex-start; margin-top: .5rem; }
        .link-button { background: none; border: none; padding: 0; font: inherit; color: var(--accent); text-decoration: underline; cursor: pointer; }
        .inline-form { display: inline; margin: 0; }
        .aside { margin: 1rem 0 0; font-size: .95rem; }
        .alert { padding: .75rem 1rem; border-radius: 6px; margin: 0 0 1rem; border: 1px solid; }
        .alert-error { background: var(--error-bg); border-color: #f1b5ae; color: var(--danger-dark); }
        .alert-success { background: var(--success-bg); border-color: #a6d8bb; color: var(--success); }
        .banner { display: flex; flex-wrap: wrap; align-items: center; gap: .75rem; padding: .9rem 1rem; margin-bottom: 1.25rem;
          background: var(--warning-bg); border: 1px solid #f2cf94; border-radius: var(--radius); }
        .banner .button { margin-left: auto; }
        .badge { display: inline-flex; align-items: center; gap: .35rem; padding: .1rem .55rem; border-radius: 999px;
          font-size: .85rem; font-weight: 600; white-space: nowrap; }
        .badge-success { background: var(--success-bg); color: var(--success); }
        .badge-neutral { background: #eef0f4; color: #3d4656; }
        .badge-warning { background: var(--warning-bg); color: var(--warning); }
        .facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: 1rem; margin: 0; }
        .facts div { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); padding: 1rem; }
        .facts dt { color: var(--muted); font-size: .9rem; }
        .facts dd { margin: .25rem 0 0; font-weight: 600; }
        .steps { padding-left: 1.25rem; }
        .steps li { margin-bottom: 1.5rem; }
        .qr-frame { display: inline-block; padding: .5rem; background: #fff; border: 1px solid var(--border); border-radius: var(--radius); }
        .qr { display: block; width: 14rem; height: 14rem; }
        code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        .secret { font-size: 1.1rem; letter-spacing: .05em; background: var(--bg); padding: .25rem .5rem; border-radius: 4px; }
        .uri { word-break: break-all; font-size: .85rem; }
        .recovery-codes { display: grid; grid-template-columns: repeat(2, 1fr); gap: .4rem 1.5rem; list-style: none;
          padding: 1rem; background: var(--bg); border-radius: var(--radius); font-size: 1.05rem; }
        .button-row { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; margin-bottom: 1rem; }
        .button-row .button { white-space: nowrap; }
        .checkbox { display: flex; align-items: center; gap: .5rem; font-weight: 400; }
        .table-wrap { overflow-x: auto; position: relative; }
        .table { width: 100%; border-collapse: collapse; }
        .table th, .table td { text-align: left; padding: .6rem .75rem; border-bottom: 1px solid var(--border); vertical-align: middle; }
        .table th { font-size: .85rem; color: var(--muted); font-weight: 600; }
        .ua { max-width: 18rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        .badge-danger { background: var(--error-bg); color: var(--danger-dark); }
        .page-head { display: flex; align-items: center; justify-content: space-between; gap: 1rem; margin-bottom: 1rem; }
        .page-head h1 { margin: 0; }
        .filters { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem .75rem; margin-bottom: .75rem; }
        .filters input[type=search] { font: inherit; padding: .5rem .7rem; border: 1px solid #8a94a6; border-radius: 6px; min-width: 16rem; }
        .filters .filter input[type=search] { min-width: 12rem; }
        .filters label { font-weight: 400; color: var(--muted); }
        .filter { display: inline-flex; align-items: center; gap: .4rem; }
        .filters .button { margin: 0; }
        select { font: inherit; padding: .45rem .5rem; border: 1px solid #8a94a6; border-radius: 6px; background: #fff; color: var(--text); }
        .filters .count { margin-left: auto; color: var(--muted); }
        .selection-bar { background: #e8eefc; border: 1px solid #bcd0f7; border-radius: 6px; padding: .6rem .9rem; margin-bottom: .75rem; }
        .members, #results { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); border-collapse: separate; border-spacing: 0; }
        .members .col-check { width: 2.5rem; }
        .members .col-menu { width: 3rem; text-align: right; }
        .members .folded, #results .folded { display: none; }
        .members tbody tr:hover { background: #f9fafc; }
        .members tbody tr.selected { background: #eef3fd; }
        .members tbody tr:last-child td, #results tbody tr:last-child td { border-bottom: none; }
        a.sort { color: inherit; text-decoration: none; }
        a.sort:hover { text-decoration: underline; }
        .icon-button { font: inherit; font-size: 1.2rem; line-height: 1; width: 2rem; height: 2rem; border-radius: 6px;
          border: 1px solid transparent; background: none; cursor: pointer; color: var(--text); }
        .icon-button:hover, .icon-button[aria-expanded="true"] { background: var(--bg); border-color: var(--border); }
        .menu-wrap { position: relative; display: inline-block; }
        .menu { position: absolute; z-index: 20; top: calc(100% + 4px); left: 0; min-width: 12rem; margin: 0; padding: .3rem;
          list-style: none; background: var(--surface); border: 1px solid var(--border); border-radius: 6px;
          box-shadow: 0 8px 24px rgba(20, 30, 50, .15); text-align: left; }
        .menu-right, .page-head .menu { left: auto; right: 0; }
        .menu [role=menuitem] { display: block; width: 100%; text-align: left; font: inherit; padding: .45rem .7rem; border: none;
          border-radius: 4px; background: none; color: var(--danger-dark); cursor: pointer; }
        .menu [role=menuitem]:hover, .menu [role=menuitem]:focus { background: var(--error-bg); }
        .menu [data-unlock-member] { color: var(--text); }
        .menu [data-unlock-member]:hover, .menu [data-unlock-member]:focus { background: var(--bg); }
        .menu [role=menuitem][aria-disabled=true] { color: var(--muted); cursor: not-allowed; background: none; }
        .menu.menu-floating { position: fixed; top: 0; left: 0; right: auto; }
        .menu-hint { display: block; padding: 0 .7rem .4rem; font-size: .8rem; color: var(--muted); max-width: 16rem; white-space: normal; }
        .pager { display: flex; align-items: center; justify-content: flex-end; gap: .5rem; margin-top: .75rem; }
        .pager .page-size { display: flex; align-items: center; gap: .4rem; margin-right: .75rem; }
        .pager label { font-weight: 400; color: var(--muted); }
        span.button[aria-disabled=true] { opacity: .5; cursor: default; }
        .empty { color: var(--muted); padding: 1rem; }
        .modal { border: none; border-radius: 10px; padding: 1.5rem; width: min(34rem, calc(100vw - 2rem));
          box-shadow: 0 20px 60px rgba(10, 20, 40, .35); color: var(--text); }
        .modal::backdrop { background: rgba(15, 23, 42, .55); }
        .modal h2 { font-size: 1.25rem; margin: 0; }
        .modal ul { margin: .25rem 0 .5rem; padding-left: 1.25rem; }
        .modal p { margin: .25rem 0; }
        .modal .warning { color: var(--danger-dark); margin-top: .5rem; }
        .modal .names { font-weight: 600; }
        .modal-actions { display: flex; justify-content: flex-end; gap: .5rem; margin-top: 1rem; }
        .stack .modal-actions .button { margin-top: 0; align-self: auto; }
        .step-up { background: var(--warning-bg); border: 1px solid #f2cf94; border-radius: 6px; padding: .75rem;
          display: flex; flex-direction: column; gap: .4rem; }
        .alert-info { background: #eef0f4; border-color: var(--border); color: var(--text); }
        .summary { font-size: 1.15rem; font-weight: 600; }
        progress { width: 100%; height: 1rem; margin: .5rem 0; accent-color: var(--accent); }
        progress::-webkit-progress-bar { background: #e3e8f0; border-radius: 999px; }
        progress::-webkit-progress-value { background: var(--accent); border-radius: 999px; transition: width .4s; }
        #job-label { font-size: 1.1rem; font-weight: 600; margin: 0; }
        pre.mail { white-space: pre-wrap; font-family: inherit; margin: 0; }
        .mail-item h2 { margin-bottom: .25rem; }
        .sub { display: block; font-size: .8rem; color: var(--muted); }
        .nowrap { white-space: nowrap; }
        .help { margin: 0 0 .5rem; color: var(--muted); font-size: .9rem; }
        .settings { max-width: 40rem; }
        .settings input[type=number] { font: inherit; padding: .45rem .6rem; border: 1px solid #8a94a6; border-radius: 6px; max-width: 8rem; }
        fieldset { border: 1px solid var(--border); border-radius: 6px; padding: .75rem 1rem; margin: .5rem 0; }
        legend { font-weight: 600; padding: 0 .25rem; }
        .filters input[type=date] { font: inherit; padding: .4rem .5rem; border: 1px solid #8a94a6; border-radius: 6px; }
        /* Phones and narrow windows. */
        @media (max-width: 720px) {
          .shell { flex-direction: column; }
          .sidenav { width: auto; border-right: none; border-bottom: 1px solid var(--border); padding: .25rem .5rem; }
          .sidenav ul { display: flex; flex-wrap: wrap; gap: .15rem .25rem; }
          .sidenav a { padding: .35rem .6rem; }
          .content { padding: 1rem; }
          .topbar { flex-wrap: wrap; gap: .5rem 1rem; }
          .org-name { border-left: none; padding-left: 0; }
          .account-name { display: none; }
          .recovery-codes { grid-template-columns: 1fr; }
          .members .col-email, .members .col-role, .members .col-last, #results .col-email { display: none; }
          .members .folded, #results .folded { display: block; font-size: .85rem; color: var(--muted); }
          .members .folded { overflow-wrap: anywhere; }
          #results th, #results td { padding: .55rem .5rem; }
          .filters input[type=search] { min-width: 0; width: 100%; }
          .filters .count { margin-left: 0; width: 100%; }
          .filters .filter { width: 100%; }
          .filters .filter label { min-width: 6.5rem; white-space: nowrap; }
          .filters .filter select, .filters .filter input { flex: 1; min-width: 0; }
          .page-head { flex-wrap: wrap; }
          .page-head h1 { white-space: nowrap; }
          .members th, .members td { padding: .55rem .4rem; }
          .members .col-check { width: 2rem; }
          .members .col-menu { width: 2.5rem; }
          .members .badge { white-space: normal; }
          .pager { flex-wrap: wrap; }
        }
        """#

    static let js = #"""
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
          setUpMenus();
          setUpMembers();
          setUpJobPolling();
        });

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
        // A row's menu floats above the table's scroll area (which would clip it), under its button's right
        // edge, or above the button when there is no room below.
        function placeMenu(button, menu) {
          if (!button.closest(".table-wrap")) return;
          menu.classList.add("menu-floating");
          const anchor = button.getBoundingClientRect();
          const below = anchor.bottom + 4;
          const top = below + menu.offsetHeight > window.innerHeight && anchor.top - 4 - menu.offsetHeight > 0
            ? anchor.top - 4 - menu.offsetHeight : below;
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
                bar.append("More than 10,000 members match: narrow the search to reset them all at once.");
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

          // ⋮ → Reset MFA: the single-member modal.
          const single = document.getElementById("single-reset");
          document.querySelectorAll("[data-reset-member]").forEach((item) => {
            item.addEventListener("click", () => {
              if (item.dataset.disabled) return;
              const button = document.getElementById(item.closest("ul").getAttribute("aria-labelledby"));
              closeMenu(button, false);
              fill(single, { "member-id": item.dataset.resetMember, name: item.dataset.name, email: item.dataset.email,
                first: item.dataset.name.split(" ")[0] });
              openDialog(single, button);
            });
          });

          // Actions → Reset MFA: the bulk modal.
          const bulk = document.getElementById("bulk-reset");
          const bulkItem = document.querySelector("[data-bulk-reset]");
          if (bulkItem) bulkItem.addEventListener("click", () => {
            closeMenu(actions, false);
            const chosen = selected();
            const count = allMatching ? total : chosen.length;
            const targets = bulk.querySelector("[data-field=targets]");
            targets.textContent = "";
            const hidden = (name, value) => { const input = document.createElement("input"); input.type = "hidden"; input.name = name; input.value = value; targets.append(input); };
            if (allMatching) {
              hidden("scope", "all");
              new URLSearchParams(window.location.search).forEach((value, key) => { if (["query", "role", "mfa"].includes(key)) hidden(key, value); });
            } else {
              chosen.forEach((box) => hidden("memberId", box.value));
            }
            const names = (allMatching ? rows : chosen).map((box) => box.closest("tr").dataset.name);
            const shown = names.slice(0, 5);
            const more = count - shown.length;
            const scope = count === 1 ? "the 1 selected member" : `all ${count.toLocaleString()} selected members`;
            fill(bulk, { count: count.toLocaleString(), noun: plural(count), scope, names: shown.join(", ") + (more > 0 ? ` and ${more.toLocaleString()} more` : "") });
            bulk.querySelector("[data-field=submit]").textContent = `Reset MFA for ${count.toLocaleString()} ${plural(count)}`;
            const confirmBox = bulk.querySelector("[data-field=confirm-count]");
            const confirmInput = document.getElementById("bulk-confirm");
            const submit = bulk.querySelector("[data-field=submit]");
            confirmInput.value = "";
            if (count > 25) {
              confirmBox.hidden = false;
              confirmInput.required = true;
              confirmInput.pattern = String(count);
              submit.disabled = true;
              confirmInput.oninput = () => { submit.disabled = confirmInput.value.trim() !== String(count); };
            } else {
              confirmBox.hidden = true;
              confirmInput.required = false;
              confirmInput.removeAttribute("pattern");
              submit.disabled = false;
            }
            openDialog(bulk, actions);
          });
          render();
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
              if (node.tagName === "INPUT") node.value = value; else node.textContent = value;
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
          const first = dialog.querySelector("input:not([type=hidden]), button");
          if (first) first.focus();
        }

        // A background reset's progress: poll the job and reload when it is done.
        function setUpJobPolling() {
          const job = document.getElementById("job");
          if (!job) return;
          const label = document.getElementById("job-label");
          const bar = document.getElementById("job-progress");
          const tick = async () => {
            try {
              const response = await fetch(job.dataset.poll, { credentials: "same-origin" });
              const data = await response.json();
              bar.value = data.processed;
              label.textContent = `Resetting MFA — ${data.processed.toLocaleString()} of ${data.total.toLocaleString()}`;
              if (data.status === "completed") { window.location.reload(); return; }
            } catch (e) { /* the server is unreachable for now: try again at the next tick */ }
            setTimeout(tick, 1000);
          };
          setTimeout(tick, 1000);
        }
        """#
}
