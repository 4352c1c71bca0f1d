package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"tally/app/accounts"
	"tally/app/errs"
	"tally/views"
)

// account shows who is logged in and the password change form.
func (h *Handler) account(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r)
	h.page(w, r, "Account", "account", views.Account(views.AccountPage{Name: u.Name, Email: u.Email}))
}

// changePassword sets a new password after checking the current one.
// Every other login session of the user ends; this one is re-issued so
// the user stays logged in.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	u, _ := currentUser(r)
	again := func(status int, msg string) {
		h.pageStatus(w, r, status, "Account", "account", views.Account(views.AccountPage{Name: u.Name, Email: u.Email, Error: msg}))
	}
	// Guessing the current password (a session left open) is limited like
	// logins from one address, under its own key.
	key := "password:" + u.ID.String()
	if blocked, wait := h.logins.blocked(key, loginPerAccountAddr); blocked {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		again(http.StatusTooManyRequests, "Too many wrong passwords. Try again later.")
		return
	}
	nu, err := h.Accounts.ChangePassword(r.Context(), u.ID, r.PostFormValue("current"), r.PostFormValue("new"))
	switch errs.KindOf(err) {
	case errs.Unauthorized:
		h.logins.fail(key)
		again(http.StatusBadRequest, errs.Message(err))
		return
	case errs.Invalid:
		again(http.StatusBadRequest, errs.Message(err))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.startSession(r, nu, h.sessions.GetBool(r.Context(), sessRemember)); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.Info("password changed", "user", u.ID)
	h.flash(r, "ok", "Password changed. Your other login sessions have ended.")
	h.redirect(w, r, "/account")
}

// mailsResets reports whether password reset links go out by mail. That
// needs a mail server and the public URL: a link built from the request's
// Host header could be pointed at another site by whoever asks.
func (h *Handler) mailsResets() bool { return h.Mail.Configured() && h.PublicURL != "" }

// Reset request limits: per address and per client, in the login window.
const (
	resetsPerEmail = 3
	resetsPerIP    = 20
)

// forgot asks for the email of a forgotten password (or, without mail,
// says how an administrator makes a reset link).
func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	h.bare(w, r, http.StatusOK, "Forgot password", false, views.Forgot(views.ForgotPage{MailEnabled: h.mailsResets()}))
}

// forgotSubmit mails a reset link when the email has an account. The
// answer is the same whether it has one or not, and the mail goes out
// after the answer, so neither the page nor its timing tells.
func (h *Handler) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.mailsResets() {
		h.forgot(w, r)
		return
	}
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	email, err := accounts.NormalizeEmail(r.PostFormValue("email"))
	if err != nil {
		h.bare(w, r, http.StatusBadRequest, "Forgot password", false,
			views.Forgot(views.ForgotPage{MailEnabled: true, Email: r.PostFormValue("email"), Error: errs.Message(err)}))
		return
	}
	emailKey, ipKey := "reset:"+email, "reset-ip:"+addrKey(h.clientIP(r))
	emailBlocked, _ := h.logins.blocked(emailKey, resetsPerEmail)
	ipBlocked, _ := h.logins.blocked(ipKey, resetsPerIP)
	if !emailBlocked && !ipBlocked { // once blocked, more requests record nothing
		h.logins.fail(emailKey)
		h.logins.fail(ipKey)
	}
	if emailBlocked || ipBlocked {
		h.Log.Info("password reset request over the limit", "ip", h.clientIP(r))
	} else {
		go h.mailReset(context.WithoutCancel(r.Context()), email, strings.TrimRight(h.PublicURL, "/"))
	}
	h.bare(w, r, http.StatusOK, "Forgot password", false, views.Forgot(views.ForgotPage{MailEnabled: true, Sent: true}))
}

// mailReset makes and mails a reset link, if the email has an account.
func (h *Handler) mailReset(ctx context.Context, email, base string) {
	token, u, err := h.Accounts.CreatePasswordReset(ctx, email)
	if errs.KindOf(err) == errs.NotFound {
		return
	}
	if err != nil {
		h.Log.Error("password reset link", "err", err)
		return
	}
	link := base + "/reset/" + token
	err = h.Mail.Send(ctx, u.Email, "Reset your tally password",
		fmt.Sprintf("Someone (hopefully you) asked to reset the password of your tally account %s.\n\nSet a new password:\n%s\n\nThe link works once, within %d minutes. If you did not ask for it, ignore this mail: your password stays as it is.\n",
			u.Email, link, int(accounts.ResetLifetime/time.Minute)))
	if err != nil {
		h.Log.Warn("password reset mail not sent", "user", u.ID, "err", err)
		return
	}
	h.Log.Info("password reset mail sent", "user", u.ID)
}

// reset shows the new-password form of a reset link.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	token := chi.URLParam(r, "token")
	u, err := h.Accounts.PasswordReset(r.Context(), token)
	if errs.KindOf(err) == errs.NotFound {
		h.bare(w, r, http.StatusNotFound, "Reset password", false, views.ResetInvalid())
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.bare(w, r, http.StatusOK, "Reset password", false, views.Reset(views.ResetPage{Token: token, Email: u.Email}))
}

// resetSubmit sets the new password, uses up the link, and logs in.
func (h *Handler) resetSubmit(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	if err := parseForm(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	token := chi.URLParam(r, "token")
	u, err := h.Accounts.ResetPassword(r.Context(), token, r.PostFormValue("password"))
	switch errs.KindOf(err) {
	case errs.NotFound:
		h.bare(w, r, http.StatusNotFound, "Reset password", false, views.ResetInvalid())
		return
	case errs.Invalid:
		pending, lerr := h.Accounts.PasswordReset(r.Context(), token)
		if lerr != nil {
			h.fail(w, r, lerr)
			return
		}
		h.bare(w, r, http.StatusBadRequest, "Reset password", false, views.Reset(views.ResetPage{Token: token, Email: pending.Email, Error: errs.Message(err)}))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.logins.reset("account:" + u.Email) // a reset proves the owner: lift the account-wide block
	if err := h.startSession(r, u, false); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.Info("password reset", "user", u.ID)
	h.flash(r, "ok", "Your password was changed, and you are logged in.")
	h.redirect(w, r, "/")
}
