import LatchkeyCore

/// Sign-in, second factor, enrollment and recovery-code pages.
enum AuthPages {
    static func login(csrf: String, email: String = "", error: String? = nil, notice: String? = nil) -> HTML {
        Layout.card(
            title: "Sign in",
            content: """
                <h1>Sign in</h1>
                \(Layout.toast(notice))
                \(Layout.alert(error))
                <form method="post" action="\(Route.login.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <label for="email">Email</label>
                  <input id="email" name="email" type="email" autocomplete="username" required value="\(email)" autofocus>
                  <label for="password">Password</label>
                  <input id="password" name="password" type="password" autocomplete="current-password" required>
                  <button type="submit" class="button button-primary">Sign in</button>
                </form>
                <p class="aside"><a href="\(Route.passwordForgot.path)">Forgot password?</a></p>
                """)
    }

    static func forgotPassword(csrf: String, email: String = "", sent: Bool = false, error: String? = nil) -> HTML {
        let content: HTML =
            sent
            ? """
            <h1>Check your email</h1>
            <p role="status">If an account uses <strong>\(email)</strong>, an email with a link to set a new password \
            is on its way. The link works once, for one hour.</p>
            <p class="aside">No email? Check the address, look in spam, or ask an administrator of your organization.</p>
            <p><a href="\(Route.login.path)">Back to sign in</a></p>
            """
            : """
            <h1>Forgot your password?</h1>
            <p>Enter the email you sign in with. We'll email you a link to set a new password.</p>
            \(Layout.alert(error))
            <form method="post" action="\(Route.passwordForgot.path)" class="stack">
              \(Layout.csrfField(csrf))
              <label for="email">Email</label>
              <input id="email" name="email" type="email" autocomplete="username" required value="\(email)" autofocus>
              <button type="submit" class="button button-primary">Email me a link</button>
            </form>
            <p class="aside"><a href="\(Route.login.path)">Back to sign in</a></p>
            """
        return Layout.card(title: "Forgot password", content: content)
    }

    /// The form behind a password link (the token travels in a hidden field, not in the next URL).
    static func setPassword(csrf: String, token: String, email: String?, error: String? = nil) -> HTML {
        guard let email else {
            return Layout.card(
                title: "Link expired",
                content: """
                    <h1>This link has expired</h1>
                    <p>Password links work once, for one hour. Ask for a new one.</p>
                    <p><a class="button button-primary" href="\(Route.passwordForgot.path)">Get a new link</a></p>
                    """)
        }
        return Layout.card(
            title: "Set a new password",
            content: """
                <h1>Set a new password</h1>
                <p>For <strong>\(email)</strong>. You'll be signed out everywhere, and still asked for your \
                authenticator code when you sign in.</p>
                \(Layout.alert(error))
                <form method="post" action="\(Route.passwordReset.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <input type="hidden" name="token" value="\(token)">
                  <input type="hidden" name="email" value="\(email)" autocomplete="username">
                  <label for="new-password">New password</label>
                  <input id="new-password" name="newPassword" type="password" autocomplete="new-password" required autofocus
                         minlength="\(PasswordPolicy.minimumLength)" maxlength="\(PasswordPolicy.maximumLength)" aria-describedby="password-rule">
                  <p class="help" id="password-rule">\(PasswordPolicy.minimumLength) to \(PasswordPolicy.maximumLength) characters; not a common password and not your email.</p>
                  <label for="confirm-password">New password again</label>
                  <input id="confirm-password" name="confirmPassword" type="password" autocomplete="new-password" required>
                  <button type="submit" class="button button-primary">Set password</button>
                </form>
                """)
    }

    /// What a member who lost their phone can do (naming their organization, which the session knows).
    static func lostPhone(_ organization: String) -> HTML {
        """
        <p class="aside" id="lost-phone">Lost your phone and your recovery codes? Ask an administrator of \(organization) \
        to reset your MFA.</p>
        """
    }

    static func mfa(csrf: String, organization: String, error: String? = nil) -> HTML {
        Layout.card(
            title: "Verify it's you",
            content: """
                <h1>Two-step verification</h1>
                <p>Enter the 6-digit code from your authenticator app.</p>
                \(Layout.alert(error))
                <form method="post" action="\(Route.loginMFA.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <label for="code">Verification code</label>
                  <input id="code" name="code" class="code-input" inputmode="numeric" autocomplete="one-time-code"
                         pattern="[0-9]{6}" maxlength="6" required autofocus>
                  <button type="submit" class="button button-primary">Verify</button>
                </form>
                <p class="aside"><a href="\(Route.loginRecovery.path)">Use a recovery code instead</a></p>
                \(lostPhone(organization))
                \(cancelForm(csrf))
                """)
    }

    static func recovery(csrf: String, organization: String, error: String? = nil) -> HTML {
        Layout.card(
            title: "Use a recovery code",
            content: """
                <h1>Use a recovery code</h1>
                <p>Enter one of the recovery codes you saved when you set up MFA. Each code works once.</p>
                \(Layout.alert(error))
                <form method="post" action="\(Route.loginRecovery.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <label for="recoveryCode">Recovery code</label>
                  <input id="recoveryCode" name="recoveryCode" autocomplete="off" spellcheck="false" required autofocus>
                  <button type="submit" class="button button-primary">Verify</button>
                </form>
                <p class="aside"><a href="\(Route.loginMFA.path)">Use your authenticator app instead</a></p>
                \(lostPhone(organization))
                \(cancelForm(csrf))
                """)
    }

    static func cancelForm(_ csrf: String) -> HTML {
        """
        <form method="post" action="\(Route.logout.path)" class="aside">
          \(Layout.csrfField(csrf))
          <button type="submit" class="link-button">Cancel and sign out</button>
        </form>
        """
    }

    /// Steps 1 and 2 of enrollment: scan (or type) the key, then confirm with a code.
    static func enroll(
        csrf: String, enrollment: AuthService.Enrollment, qrSVG: String, forced: Bool, error: String? = nil
    ) -> HTML {
        let grouped = stride(from: 0, to: enrollment.secret.count, by: 4).map { start -> String in
            let from = enrollment.secret.index(enrollment.secret.startIndex, offsetBy: start)
            let to = enrollment.secret.index(from, offsetBy: min(4, enrollment.secret.count - start))
            return String(enrollment.secret[from..<to])
        }.joined(separator: " ")
        let intro: HTML =
            forced
            ? "<p>Your organization requires multi-factor authentication. Set up an authenticator app to continue.</p>"
            : "<p>Set up an authenticator app (such as Google Authenticator, 1Password or Authy).</p>"
        return Layout.card(
            title: "Set up your authenticator",
            content: """
                <h1>Set up your authenticator app</h1>
                \(intro)
                \(Layout.alert(error))
                <ol class="steps">
                  <li>
                    <h2>Scan this QR code with your app</h2>
                    <div class="qr-frame">\(HTML(unsafe: qrSVG))</div>
                    <p class="muted">Can't scan? Enter this key:</p>
                    <p><code class="secret" id="secret">\(grouped)</code></p>
                    <details><summary>Show setup link</summary><p><code class="uri" id="otpauth-uri">\(enrollment.otpauthURI)</code></p></details>
                  </li>
                  <li>
                    <h2>Enter the 6-digit code from the app</h2>
                    <form method="post" action="\(Route.enrollConfirm.path)" class="stack">
                      \(Layout.csrfField(csrf))
                      <label for="code">Verification code</label>
                      <input id="code" name="code" class="code-input" inputmode="numeric" autocomplete="one-time-code"
                             pattern="[0-9]{6}" maxlength="6" required>
                      <button type="submit" class="button button-primary">Verify and continue</button>
                    </form>
                  </li>
                </ol>
                \(forced ? cancelForm(csrf) : "<p class=\"aside\"><a href=\"\(Route.security.path)\">Cancel</a></p>")
                """, wide: true)
    }

    /// Enrollment with nothing started yet (e.g. an abandoned setup expired).
    static func enrollStart(csrf: String) -> HTML {
        Layout.card(
            title: "Set up your authenticator",
            content: """
                <h1>Set up your authenticator app</h1>
                <p>You need an authenticator app to sign in to this organization.</p>
                <form method="post" action="\(Route.enroll.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <button type="submit" class="button button-primary">Start setup</button>
                </form>
                \(cancelForm(csrf))
                """)
    }

    /// Step 3: the recovery codes, shown once, with copy, download and an acknowledgement.
    static func recoveryCodes(csrf: String, codes: [String]) -> HTML {
        let items = codes.map { code -> HTML in "<li><code>\(code)</code></li>" }
        return Layout.card(
            title: "Save your recovery codes",
            content: """
                <h1>Save your recovery codes</h1>
                <p>If you lose your phone, each of these codes lets you sign in once. They are shown only now:
                store them somewhere safe, such as a password manager.</p>
                <ul class="recovery-codes" id="recovery-codes">\(items)</ul>
                <div class="button-row">
                  <button type="button" class="button" data-copy-target="recovery-codes">Copy</button>
                  <button type="button" class="button" data-download-target="recovery-codes"
                          data-filename="latchkey-recovery-codes.txt">Download</button>
                  <span class="muted" id="copy-status" role="status" aria-live="polite"></span>
                </div>
                <form method="post" action="\(Route.enrollAcknowledge.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <label class="checkbox"><input type="checkbox" name="saved" value="yes" required data-enables="continue">
                    I have saved these codes</label>
                  <button type="submit" id="continue" class="button button-primary">Continue</button>
                </form>
                """)
    }

    /// Reached when the recovery codes were shown but the page was left before acknowledging them.
    static func recoveryCodesLost(csrf: String) -> HTML {
        Layout.card(
            title: "Save your recovery codes",
            content: """
                <h1>Save your recovery codes</h1>
                <p>Your recovery codes were shown once and cannot be shown again. Get a new set to continue;
                the earlier set stops working.</p>
                <form method="post" action="\(Route.enrollRecoveryCodes.path)" class="stack">
                  \(Layout.csrfField(csrf))
                  <button type="submit" class="button button-primary">Show new recovery codes</button>
                </form>
                """)
    }
}
