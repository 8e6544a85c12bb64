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
        body { margin: 0; line-height: 1.5; }
        h1 { font-size: 1.5rem; margin: 0 0 1rem; }
        h2 { font-size: 1.1rem; margin: 0 0 .75rem; }
        a { color: var(--accent); }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
        .skip-link { position: absolute; left: -999px; top: 0; background: var(--surface); padding: .5rem 1rem; }
        .skip-link:focus { left: 1rem; z-index: 10; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
        .muted { color: var(--muted); }
        .topbar { display: flex; align-items: center; gap: 1.25rem; padding: .6rem 1.25rem; background: var(--surface);
          border-bottom: 1px solid var(--border); }
        .brand { display: flex; align-items: center; gap: .5rem; font-weight: 700; color: var(--text); text-decoration: none; }
        .brand-mark { display: inline-grid; place-items: center; width: 1.8rem; height: 1.8rem; border-radius: 6px;
          background: var(--accent); color: #fff; font-weight: 700; }
        .org-name { font-weight: 600; padding-left: 1.25rem; border-left: 1px solid var(--border); }
        .account { margin-left: auto; display: flex; align-items: center; gap: .75rem; }
        .shell { display: flex; min-height: calc(100vh - 3.2rem); }
        .sidenav { width: 14rem; flex-shrink: 0; background: var(--surface); border-right: 1px solid var(--border); padding: 1rem .5rem; }
        .sidenav ul { list-style: none; margin: 0; padding: 0; }
        .sidenav a { display: block; padding: .5rem .75rem; border-radius: 6px; color: var(--text); text-decoration: none; }
        .sidenav a:hover { background: var(--bg); }
        .sidenav a[aria-current="page"] { background: #e8eefc; color: var(--accent-dark); font-weight: 600; }
        .content { flex: 1; min-width: 0; padding: 1.5rem 2rem; max-width: 72rem; }
        .card { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); padding: 1.5rem; }
        .section { margin-bottom: 1.25rem; }
        .auth-shell { max-width: 26rem; margin: 3rem auto; padding: 0 1rem; }
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
        .button-quiet { border-color: transparent; }
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
        .button-row { display: flex; align-items: center; gap: .5rem; margin-bottom: 1rem; }
        .checkbox { display: flex; align-items: center; gap: .5rem; font-weight: 400; }
        .table-wrap { overflow-x: auto; }
        .table { width: 100%; border-collapse: collapse; }
        .table th, .table td { text-align: left; padding: .6rem .75rem; border-bottom: 1px solid var(--border); vertical-align: middle; }
        .table th { font-size: .85rem; color: var(--muted); font-weight: 600; }
        .ua { max-width: 18rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        @media (max-width: 720px) {
          .shell { flex-direction: column; }
          .sidenav { width: auto; border-right: none; border-bottom: 1px solid var(--border); padding: .25rem .5rem; }
          .sidenav ul { display: flex; gap: .25rem; overflow-x: auto; }
          .content { padding: 1rem; }
          .topbar { flex-wrap: wrap; gap: .5rem 1rem; }
          .org-name { border-left: none; padding-left: 0; }
          .account-name { display: none; }
          .recovery-codes { grid-template-columns: 1fr; }
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
        });
        """#
}
