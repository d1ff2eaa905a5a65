// Package loginui is what an employee sees when signing in and out: the
// employee ID and password page, the TOTP step, TOTP enrolment, the
// required password change, sign-out and the error pages, in English and
// Simplified Chinese.
//
// # Sign-in state machine
//
// The provider (package op) stores an auth request and sends the browser
// to /login?authRequestID=ID. From there:
//
//	GET /login ──(request or client gone)──────────────► "link expired" page, 400
//	    ├─(not started in this browser: no matching binding cookie)
//	    │        ──► "link expired" page, 400 (prompt=none: login_required)
//	    │
//	    ├─(SSO cookie names a live session of an active employee with no
//	    │  password change pending, and no prompt=login, max_age not
//	    │  exceeded, id_token_hint subject and login_hint match, "mfa" in
//	    │  its amr if the client requires MFA)
//	    │        ──► AddSessionClient, Complete ──► 302 provider callback
//	    ├─(prompt=none) ──► ErrorRedirect login_required ──► 302 app
//	    └─► password page (prefilled with login_hint)
//
//	POST /login/password (CSRF, rate limit per IP and per employee ID)
//	    ├─ bad ID or password ─► password page, one generic message, 401
//	    ├─ frozen / departed  ─► password page with that message, 403
//	    └─ ok ─► flow cookie {request, subject, stage, expiry, and — when
//	             the password was set by HR or an administrator — the
//	             change-required mark and directory.PasswordStamp} and 303 to
//	             stage "totp"  when the employee has a TOTP secret,
//	             stage "enrol" when not and TOTP is required (or the client
//	             requires MFA), else straight to authenticated with amr [pwd]
//
//	GET/POST /login/totp  ─ wrong or replayed code ─► 401, same message
//	                      └ ok ─► authenticated with amr [pwd otp mfa]
//	GET/POST /login/enrol ─ GET makes a key, keeps it only in the sealed flow
//	                        cookie and shows QR code, text key and otpauth link;
//	                        POST confirms a code (EnrolTOTP) ─► authenticated
//
//	authenticated: done, unless the change-required mark is set: then the
//	      flow keeps the amr and moves to stage "new-password" (Keycloak's
//	      "Update Password" required action, after every factor)
//
//	GET/POST /login/new-password (CSRF) ─ new password and its confirmation
//	      ├─ empty, different, or against the policy (≥ 10 characters, not
//	      │  the employee ID, not the current password) ─► 400, the page
//	      │  again naming the rule broken
//	      ├─ password no longer the one checked (another tab, an HR reset:
//	      │  PasswordStamp differs) ─► flow cleared, "start again" page, 409
//	      ├─ frozen / departed meanwhile ─► flow cleared, that message, 403
//	      └─ ok (ChangePasswordAtSignIn clears the mark) ─► done with the
//	             kept amr
//
//	every step after the password: when the employee's password hash or
//	      TOTP seed differs from the directory.CredentialStamp the flow
//	      took at the password step (an HR reset, an enrolment elsewhere)
//	      ─► flow cleared, "sign in again" page, 409; the flow's own
//	      enrolment renews the stamp
//
//	done: new session (fresh random cookie value; the stored ID is its
//	      SHA-256, never a reused ID), SSO cookie set, flow cookie cleared,
//	      AddSessionClient, Complete, 303 to the same-origin provider
//	      callback, which redirects to the app with a code.
//
// The flow cookie (gongpai_flow, AES-GCM sealed with aad "gongpai-flow")
// is the only state between steps, so any replica can serve any step. It
// lives ten minutes at most, and never past its auth request. No session
// exists and the auth request is not completed before done, so a pending
// password change cannot be skipped by opening another app or by a
// silent (prompt=none) sign-in. Rate-limit
// answers (429) and "bad credentials" answers never say whether an
// employee ID exists; frozen and departed are told only after the right
// password.
//
// Every step loads its auth request through one function that also asks
// the provider whether this browser started it (AuthRequests.BoundToBrowser:
// the cookie /authorize set), so a sign-in link forwarded to someone else
// completes nothing, silently or after their password.
//
// Before the session is used, the client's access policy (departments by
// subtree, roles) is applied; an employee it excludes sees a page saying so
// (E-102) that sends them back to the app with access_denied, by a link and
// after a pause — or, under prompt=none, no page: access_denied at once.
//
// # Sign-out
//
// The provider's end_session sends the browser to /logout?lr=SEALED. When
// the id_token_hint's subject is the signed-in employee, the session ends
// at once; otherwise a confirmation form is shown, because a bare link
// must not sign anyone out. Ending deletes the session, clears the cookie
// and redirects to the validated post_logout_redirect_uri or /logged-out.
// Options.SessionEnder hears of every session ended here — by a sign-out,
// or by a sign-in that replaces the browser's previous session — so each
// app of that session gets a back-channel logout token for its sid.
//
// # Browser security
//
// Every form carries a CSRF token: a per-browser random cookie, and in the
// form that value sealed under the master key; the POST must present both
// and they must match (constant time). Every response has a strict CSP
// (no scripts at all, styles only from /static/), frame denial, nosniff,
// no-referrer and no-store. form-action is 'self' plus the origin of the
// app's redirect URI, because browsers apply form-action to the redirects
// that follow a form POST. Cookies are HttpOnly, SameSite=Lax (flow:
// Strict), and Secure with the __Host- prefix unless Options.Secure is
// false for a loopback http issuer.
package loginui
