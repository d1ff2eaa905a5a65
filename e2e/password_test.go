package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// An employee onboarded with an initial password, or whose password HR
// reset, must choose a new one at the next sign-in, after the second
// factor and before the session exists. Tests keep naming the password
// they onboarded with; the sign-in helpers (submitPassword, submitCode,
// formBrowser.signIn) complete the change page whenever it appears with
// changedPassword of the password in force, remember it in passwordBook,
// and type that one from then on.

// passwordBook maps what a test knows — issuer, employee ID, the password
// it onboarded with — to the password in force on that server.
var passwordBook = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// originOf reduces a URL to scheme://host[:port].
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

func bookKey(issuer, employeeID, known string) string {
	return originOf(issuer) + "\x00" + strings.ToUpper(strings.TrimSpace(employeeID)) + "\x00" + known
}

// currentPassword is the password to type for what the test knows: the
// one a helper chose, or the known one when none was changed.
func currentPassword(issuer, employeeID, known string) string {
	passwordBook.Lock()
	defer passwordBook.Unlock()
	if pw, ok := passwordBook.m[bookKey(issuer, employeeID, known)]; ok {
		return pw
	}
	return known
}

func recordPassword(issuer, employeeID, known, now string) {
	passwordBook.Lock()
	defer passwordBook.Unlock()
	passwordBook.m[bookKey(issuer, employeeID, known)] = now
}

// forgetPasswords drops what the book holds for issuer: a new server
// there starts from the passwords its tests onboard with.
func forgetPasswords(issuer string) {
	passwordBook.Lock()
	defer passwordBook.Unlock()
	prefix := originOf(issuer) + "\x00"
	for k := range passwordBook.m {
		if strings.HasPrefix(k, prefix) {
			delete(passwordBook.m, k)
		}
	}
}

// changedPassword is the new password the helpers choose: deterministic
// (a failing test can be replayed by hand), long enough, never the
// employee ID, never the password it replaces.
func changedPassword(current string) string { return current + " (changed)" }

// Selectors of the password-change page.
const (
	selNewPassword     = `input[name="new_password"]`
	selConfirmPassword = `input[name="confirm_password"]`
)

// typedPassword is what a browser tab last typed on the password page,
// for a change page that comes after the second factor.
type typedPassword struct{ issuer, employeeID, known string }

var lastTyped = struct {
	sync.Mutex
	m map[*chromedp.Target]typedPassword
}{m: map[*chromedp.Target]typedPassword{}}

// submitPassword fills in page 1 with the password in force for what the
// test knows, submits it, and completes a password change that follows at
// once (no second factor).
func submitPassword(id, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := visible(selEmployeeID)(ctx, t); err != nil {
			return err
		}
		loc, err := chromedp.Location()(ctx, t)
		if err != nil {
			return err
		}
		lastTyped.Lock()
		lastTyped.m[t] = typedPassword{originOf(loc), id, password}
		lastTyped.Unlock()
		if _, err := submitPasswordExactly(id, currentPassword(loc, id, password))(ctx, t); err != nil {
			return err
		}
		return completePasswordChange(ctx, t)
	})
}

// submitPasswordExactly fills in page 1 with exactly this password.
func submitPasswordExactly(id, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		visible(selEmployeeID),
		clear(selEmployeeID),
		chromedp.SendKeys(chromedp.CSS(selEmployeeID), id),
		chromedp.SendKeys(chromedp.CSS(selPassword), password),
		submitAndWait(),
	)
}

// submitCode fills in the TOTP step (or the enrolment confirmation),
// submits it, and completes the password change when it comes next.
func submitCode(code string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Steps(
			visible(selCode),
			clear(selCode),
			chromedp.SendKeys(chromedp.CSS(selCode), code),
			submitAndWait(),
		)(ctx, t)
		if err != nil {
			return err
		}
		return completePasswordChange(ctx, t)
	})
}

// completePasswordChange chooses the new password when the tab shows the
// password-change page, and does nothing otherwise.
func completePasswordChange(ctx context.Context, t *chromedp.Target) error {
	asked, err := chromedp.Evaluate[bool](fmt.Sprintf("!!document.querySelector(%q)", selNewPassword))(ctx, t)
	if err != nil || !asked {
		return err
	}
	lastTyped.Lock()
	typed, ok := lastTyped.m[t]
	lastTyped.Unlock()
	if !ok {
		return fmt.Errorf("asked for a new password, but this tab typed none on the password page")
	}
	next := changedPassword(currentPassword(typed.issuer, typed.employeeID, typed.known))
	_, err = chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(selNewPassword), next),
		chromedp.SendKeys(chromedp.CSS(selConfirmPassword), next),
		submitAndWait(),
	)(ctx, t)
	if err != nil {
		return err
	}
	still, err := chromedp.Evaluate[bool](fmt.Sprintf("!!document.querySelector(%q)", selNewPassword))(ctx, t)
	if err != nil {
		return err
	}
	if still {
		msg, _ := chromedp.Evaluate[string](fmt.Sprintf("(document.querySelector(%q) || {}).textContent || ''", selAlert))(ctx, t)
		return fmt.Errorf("new password %q refused: %s", next, msg)
	}
	recordPassword(typed.issuer, typed.employeeID, typed.known, next)
	return nil
}

// passwordStep posts page 1 of a sign-in with the password in force for
// what the test knows, then completes a password change that follows at
// once (no second factor).
func (fb *formBrowser) passwordStep(csrf, authRequestID, employeeID, known string) (string, url.Values, error) {
	body, cb, err := fb.post("/login/password", url.Values{"csrf": {csrf}, "authRequestID": {authRequestID},
		"employee_id": {employeeID}, "password": {currentPassword(fb.issuer, employeeID, known)}})
	if err != nil || cb != nil {
		return body, cb, err
	}
	return fb.changePasswordIfAsked(body, employeeID, known)
}

// changePasswordIfAsked chooses the new password when body is the
// password-change page, and hands body back otherwise.
func (fb *formBrowser) changePasswordIfAsked(body, employeeID, known string) (string, url.Values, error) {
	if !strings.Contains(body, `action="/login/new-password"`) {
		return body, nil, nil
	}
	csrf := csrfField.FindStringSubmatch(body)
	if csrf == nil {
		return body, nil, fmt.Errorf("no CSRF token on the password-change page")
	}
	next := changedPassword(currentPassword(fb.issuer, employeeID, known))
	body, cb, err := fb.post("/login/new-password", url.Values{"csrf": {csrf[1]}, "new_password": {next}, "confirm_password": {next}})
	if err != nil {
		return body, cb, fmt.Errorf("choosing a new password: %w", err)
	}
	recordPassword(fb.issuer, employeeID, known, next)
	return body, cb, nil
}
