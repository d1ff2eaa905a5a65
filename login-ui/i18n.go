package loginui

import (
	"fmt"
	"net/http"

	"golang.org/x/text/language"

	"github.com/gongpai/gongpai/storage"
)

// supported lists the page languages; the first is the fallback.
var supported = []language.Tag{language.English, language.SimplifiedChinese}

// langCodes are the lang attributes and catalogue keys, index-aligned with
// supported.
var langCodes = []string{"en", "zh-CN"}

// langFor picks the page language: the auth request's ui_locales first,
// then Accept-Language, then English.
func (h *handler) langFor(r *http.Request, ar *storage.AuthRequest) string {
	if ar != nil && len(ar.UILocales) > 0 {
		var tags []language.Tag
		for _, l := range ar.UILocales {
			if t, err := language.Parse(l); err == nil {
				tags = append(tags, t)
			}
		}
		if len(tags) > 0 {
			if _, i, c := h.matcher.Match(tags...); c != language.No {
				return langCodes[i]
			}
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		// ParseAcceptLanguage rejects malformed headers; fall through then.
		if tags, _, err := language.ParseAcceptLanguage(al); err == nil && len(tags) > 0 {
			if _, i, c := h.matcher.Match(tags...); c != language.No {
				return langCodes[i]
			}
		}
	}
	return langCodes[0]
}

// translate looks key up in lang's catalogue, falling back to English and
// then to the key itself so a missing string is visible, not fatal.
func translate(lang, key string, args ...any) string {
	s, ok := catalogue[lang][key]
	if !ok {
		if s, ok = catalogue["en"][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// catalogue holds every string an employee can see.
var catalogue = map[string]map[string]string{
	"en": {
		"product":                       "gongpai",
		"sign_in":                       "Sign in",
		"sign_in_to":                    "Sign in to %s",
		"employee_id":                   "Employee ID",
		"password":                      "Password",
		"continue":                      "Continue",
		"totp_title":                    "Two-step verification",
		"totp_help":                     "Open your authenticator app and enter the 6-digit code for gongpai.",
		"code":                          "Verification code",
		"verify":                        "Verify",
		"enrol_title":                   "Set up two-step verification",
		"enrol_scan":                    "Scan this QR code with an authenticator app, for example Microsoft Authenticator, Google Authenticator or FreeOTP.",
		"qr_alt":                        "QR code for setting up two-step verification",
		"enrol_manual":                  "Can't scan it? Enter this setup key in the app instead:",
		"enrol_link":                    "On this device? Open it in your authenticator app",
		"enrol_confirm":                 "Then enter the 6-digit code the app shows, to confirm.",
		"confirm":                       "Confirm",
		"newpw_title":                   "Choose a new password",
		"newpw_why":                     "Your password was set by HR or an administrator, so it works only this once. Choose a new password that only you know to finish signing in.",
		"newpw_rules":                   "At least %d characters, not your employee ID, and not the password you just used.",
		"new_password":                  "New password",
		"confirm_password":              "Type the new password again",
		"newpw_submit":                  "Change password and continue",
		"err_pw_required":               "Type your new password in both fields.",
		"err_pw_mismatch":               "The two passwords are not the same. Type the same new password in both fields.",
		"err_pw_min_length":             "The new password is too short: use at least %d characters.",
		"err_pw_max_length":             "The new password is too long: use at most 512 bytes (about 170 Chinese characters).",
		"err_pw_employee_id":            "The new password must not be your employee ID.",
		"err_pw_unchanged":              "The new password must be different from the password you just used.",
		"err_pw_text":                   "The new password contains characters that cannot be used. Type it again.",
		"err_credentials_changed_title": "Your sign-in details were reset",
		"err_credentials_changed":       "Your password or authenticator was reset after this sign-in began. Go back to the app and sign in again.",
		"err_password_stale_title":      "Your password has changed",
		"err_password_stale":            "Your password was changed after this sign-in began, in another window or by HR. Go back to the app and sign in again.",
		"err_bad_credentials":           "Employee ID, password or code is incorrect.",
		"err_rate_limited":              "Too many attempts. Wait a few minutes, then try again.",
		"err_frozen":                    "This account is frozen. Contact HR or IT support.",
		"err_departed":                  "This account has been closed. Contact HR if you think this is a mistake.",
		"err_not_allowed":               "You are signed in, but your department or roles do not give you access to %s. Ask its owner or IT support for access.",
		"err_not_allowed_title":         "No access to this application",
		"back_to_app":                   "Return to %s",
		"err_expired_title":             "This sign-in link has expired",
		"err_expired":                   "This sign-in link has expired. Go back to the app and start again.",
		"err_logout_title":              "This sign-out link has expired",
		"err_logout":                    "This sign-out link has expired or is not valid. Close this page, or go back to the app.",
		"err_csrf_title":                "Please try again",
		"err_csrf":                      "This form has expired or was sent from another page. Go back, reload the page and try again.",
		"err_title":                     "Something went wrong",
		"err_internal":                  "Something went wrong on our side. Try again in a moment.",
		"err_unavailable":               "The sign-in service is busy or unreachable. Try again in a moment.",
		"err_not_found_title":           "Page not found",
		"err_not_found":                 "There is nothing at this address.",
		"error_code":                    "Error code %s",
		"logout_title":                  "Sign out",
		"logout_question":               "Sign out of gongpai? You will need to sign in again to use the company's apps.",
		"logout_button":                 "Sign out",
		"logged_out_title":              "You are signed out",
		"logged_out_body":               "You have signed out of gongpai. You can close this window.",
	},
	"zh-CN": {
		"product":                       "工牌",
		"sign_in":                       "登录",
		"sign_in_to":                    "登录 %s",
		"employee_id":                   "工号",
		"password":                      "密码",
		"continue":                      "继续",
		"totp_title":                    "两步验证",
		"totp_help":                     "打开身份验证器应用，输入工牌的 6 位验证码。",
		"code":                          "验证码",
		"verify":                        "验证",
		"enrol_title":                   "设置两步验证",
		"enrol_scan":                    "用身份验证器应用扫描此二维码，例如 Microsoft Authenticator、Google Authenticator 或 FreeOTP。",
		"qr_alt":                        "用于设置两步验证的二维码",
		"enrol_manual":                  "无法扫描？请在应用中手动输入此密钥：",
		"enrol_link":                    "在本设备上？直接在身份验证器应用中打开",
		"enrol_confirm":                 "然后输入应用显示的 6 位验证码以确认。",
		"confirm":                       "确认",
		"newpw_title":                   "设置新密码",
		"newpw_why":                     "您的密码由人事或管理员设置，只能使用这一次。请设置一个只有您自己知道的新密码以完成登录。",
		"newpw_rules":                   "至少 %d 个字符，不能是您的工号，也不能与刚才使用的密码相同。",
		"new_password":                  "新密码",
		"confirm_password":              "再次输入新密码",
		"newpw_submit":                  "修改密码并继续",
		"err_pw_required":               "请在两个输入框中都输入新密码。",
		"err_pw_mismatch":               "两次输入的密码不一致，请在两个输入框中输入相同的新密码。",
		"err_pw_min_length":             "新密码太短：至少需要 %d 个字符。",
		"err_pw_max_length":             "新密码太长：最多 512 字节（约 170 个汉字）。",
		"err_pw_employee_id":            "新密码不能是您的工号。",
		"err_pw_unchanged":              "新密码不能与刚才使用的密码相同。",
		"err_pw_text":                   "新密码包含无法使用的字符，请重新输入。",
		"err_credentials_changed_title": "您的登录凭据已被重置",
		"err_credentials_changed":       "本次登录开始后，您的密码或身份验证器已被重置。请返回应用重新登录。",
		"err_password_stale_title":      "您的密码已更改",
		"err_password_stale":            "本次登录开始后，您的密码已被更改（在其他窗口中，或由人事更改）。请返回应用重新登录。",
		"err_bad_credentials":           "工号、密码或验证码不正确。",
		"err_rate_limited":              "尝试次数过多，请等几分钟后再试。",
		"err_frozen":                    "该账号已被冻结，请联系人事或 IT 支持。",
		"err_departed":                  "该账号已停用。如有疑问，请联系人事。",
		"err_not_allowed":               "您已登录，但您的部门或角色无权使用 %s。请向应用负责人或 IT 支持申请权限。",
		"err_not_allowed_title":         "无权使用此应用",
		"back_to_app":                   "返回 %s",
		"err_expired_title":             "登录链接已失效",
		"err_expired":                   "此登录链接已过期。请返回应用重新开始。",
		"err_logout_title":              "退出链接已失效",
		"err_logout":                    "此退出链接已过期或无效。请关闭本页，或返回应用。",
		"err_csrf_title":                "请重试",
		"err_csrf":                      "表单已失效或来自其他页面。请返回、刷新页面后重试。",
		"err_title":                     "出错了",
		"err_internal":                  "服务器出了点问题，请稍后再试。",
		"err_unavailable":               "登录服务繁忙或暂时无法连接，请稍后再试。",
		"err_not_found_title":           "页面不存在",
		"err_not_found":                 "此地址没有内容。",
		"error_code":                    "错误代码 %s",
		"logout_title":                  "退出登录",
		"logout_question":               "要退出工牌吗？退出后，使用公司的应用需要重新登录。",
		"logout_button":                 "退出登录",
		"logged_out_title":              "您已退出登录",
		"logged_out_body":               "您已退出工牌，现在可以关闭此窗口。",
	},
}
