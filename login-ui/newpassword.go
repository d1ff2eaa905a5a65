package loginui

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

// authenticated is where a flow lands once every factor is proved. A
// password set by HR or an administrator (onboarding, reset) must be
// replaced first, as Keycloak's "Update Password" required action: the
// flow moves to the password-change step, keeping what was proved, and
// neither a session nor a completed auth request exists until the change
// is made. Otherwise the sign-in finishes.
func (h *handler) authenticated(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState, amr []string) {
	if !f.MustChangePassword {
		h.finish(w, r, fc, f, amr)
		return
	}
	f.Stage, f.PendingSecret, f.PendingURL = stageNewPassword, "", ""
	f.AMR = slices.Clone(amr)
	if err := h.writeFlow(w, f); err != nil {
		h.internalError(w, r, fc.lang, "seal flow cookie", err)
		return
	}
	h.log.InfoContext(r.Context(), "login-ui: password change required before sign-in completes", "sub", f.Subject)
	http.Redirect(w, r, "/login/"+string(stageNewPassword), http.StatusSeeOther)
}

func (h *handler) getNewPassword(w http.ResponseWriter, r *http.Request) {
	f, fc, ok := h.loadFlow(w, r, stageNewPassword)
	if !ok {
		return
	}
	h.newPasswordPage(w, r, fc, f, http.StatusOK, "", "")
}

// newPasswordPage renders the password-change step. errKey is the
// message; invalid names the input it is about ("new_password" or
// "confirm_password"), which gets aria-invalid and points at the message.
func (h *handler) newPasswordPage(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState, status int, errKey, invalid string) {
	p, err := h.newPage(w, r, fc, "newpw_title")
	if err != nil {
		h.internalError(w, r, fc.lang, "csrf token", err)
		return
	}
	p.EmployeeID = f.EmployeeID
	p.MinPasswordLength = directory.MinPasswordLength
	p.MaxPasswordBytes = directory.MaxPasswordBytes
	if errKey != "" {
		if errKey == "err_pw_min_length" {
			p.Error = p.T(errKey, directory.MinPasswordLength)
		} else {
			p.Error = p.T(errKey)
		}
		p.InvalidField = invalid
	}
	h.render(w, r, status, "newpassword", p)
}

// passwordRuleMessages maps each password rule to the message naming it.
var passwordRuleMessages = map[string]string{
	directory.RulePasswordText:       "err_pw_text",
	directory.RulePasswordMinLength:  "err_pw_min_length",
	directory.RulePasswordMaxLength:  "err_pw_max_length",
	directory.RulePasswordEmployeeID: "err_pw_employee_id",
	directory.RulePasswordUnchanged:  "err_pw_unchanged",
}

func (h *handler) postNewPassword(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	f, fc, ok := h.loadFlow(w, r, stageNewPassword)
	if !ok {
		return
	}
	ctx := r.Context()
	pw, confirm := r.PostForm.Get("new_password"), r.PostForm.Get("confirm_password")
	switch {
	case pw == "" || confirm == "":
		h.newPasswordPage(w, r, fc, f, http.StatusBadRequest, "err_pw_required", "new_password")
		return
	case len(pw) > maxPasswordLen:
		// Refused before any hashing, like an over-long sign-in password.
		h.newPasswordPage(w, r, fc, f, http.StatusBadRequest, "err_pw_max_length", "new_password")
		return
	case pw != confirm:
		h.newPasswordPage(w, r, fc, f, http.StatusBadRequest, "err_pw_mismatch", "confirm_password")
		return
	}
	err := h.o.Directory.ChangePasswordAtSignIn(ctx, f.Subject, f.PasswordStamp, pw)
	if fe := (*directory.FieldError)(nil); errors.As(err, &fe) && passwordRuleMessages[fe.Rule] != "" {
		h.log.InfoContext(ctx, "login-ui: new password refused by the policy", "sub", f.Subject, "rule", fe.Rule)
		h.newPasswordPage(w, r, fc, f, http.StatusBadRequest, passwordRuleMessages[fe.Rule], "new_password")
		return
	}
	if errors.Is(err, storage.ErrNotFound) {
		// The employee no longer exists.
		h.clearCookie(w, h.flowCookie)
		h.renderError(w, r, fc.lang, http.StatusBadRequest, "err_expired", "")
		return
	}
	if err != nil {
		h.stepFailed(w, r, fc, f, "change password", err, func() {
			h.clearCookie(w, h.flowCookie)
			h.renderError(w, r, fc.lang, http.StatusBadRequest, "err_expired", "")
		})
		return
	}
	h.log.InfoContext(ctx, "login-ui: password changed at sign-in", "sub", f.Subject)
	f.MustChangePassword, f.PasswordStamp = false, ""
	amr := f.AMR
	if len(amr) == 0 {
		amr = amrPassword
	}
	h.finish(w, r, fc, f, amr)
}
