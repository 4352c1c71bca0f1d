// Package mail sends the dashboard's few mails (invitations, password
// resets) through an SMTP server: smtp:// upgrades with STARTTLS when the
// server offers it, smtps:// speaks TLS from the start, and credentials
// come from the URL.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds one Send: connecting, the conversation, the data.
const DefaultTimeout = 20 * time.Second

// Mailer sends plain-text mails. The zero value and nil are an
// unconfigured mailer whose Send fails.
type Mailer struct {
	host     string // host:port
	name     string // host, for TLS and auth
	implicit bool   // smtps://
	user     *url.Userinfo
	from     mail.Address
	// TLSConfig is the base of the TLS settings (nil: the system's roots).
	TLSConfig *tls.Config
	Timeout   time.Duration
}

// New builds a mailer from TALLY_SMTP_URL and TALLY_MAIL_FROM. An empty URL
// makes an unconfigured mailer.
func New(smtpURL, from string) (*Mailer, error) {
	m := &Mailer{Timeout: DefaultTimeout}
	if smtpURL == "" {
		return m, nil
	}
	u, err := url.Parse(smtpURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("the SMTP URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465")
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("the sender address %q is not an email address", from)
	}
	m.implicit = u.Scheme == "smtps"
	m.name = u.Hostname()
	port := u.Port()
	if port == "" {
		port = "587"
		if m.implicit {
			port = "465"
		}
	}
	m.host = net.JoinHostPort(m.name, port)
	if u.User != nil && u.User.Username() != "" {
		m.user = u.User
	}
	m.from = *addr
	if m.from.Name == "" {
		m.from.Name = "tally"
	}
	return m, nil
}

// Configured reports whether mails can be sent.
func (m *Mailer) Configured() bool { return m != nil && m.host != "" }

// Send delivers one plain-text mail to one address.
func (m *Mailer) Send(ctx context.Context, to, subject, body string) error {
	if !m.Configured() {
		return errors.New("no mail server is configured (TALLY_SMTP_URL)")
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil || strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("%q is not an email address", to)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return errors.New("the subject must be one line")
	}
	msg, err := m.message(rcpt.Address, subject, body)
	if err != nil {
		return err
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := m.dial(ctx)
	if err != nil {
		return fmt.Errorf("connect to the mail server %s: %w", m.host, err)
	}
	// The deadline bounds every read and write; cancelling ctx closes the
	// connection, which ends a call that is waiting.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if err := m.converse(conn, rcpt.Address, msg); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("mail to the server %s: %w (%w)", m.host, ctx.Err(), err)
		}
		return fmt.Errorf("mail to the server %s: %w", m.host, err)
	}
	return nil
}

func (m *Mailer) tlsConfig() *tls.Config {
	var c *tls.Config
	if m.TLSConfig != nil {
		c = m.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = m.name
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

func (m *Mailer) dial(ctx context.Context) (net.Conn, error) {
	if m.implicit {
		d := tls.Dialer{Config: m.tlsConfig()}
		return d.DialContext(ctx, "tcp", m.host)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", m.host)
}

func (m *Mailer) converse(conn net.Conn, to string, msg []byte) error {
	c, err := smtp.NewClient(conn, m.name)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return err
	}
	if !m.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(m.tlsConfig()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		}
	}
	if m.user != nil {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return errors.New("the server does not offer AUTH, but the SMTP URL has credentials")
		}
		pass, _ := m.user.Password()
		var auth smtp.Auth
		if !strings.Contains(" "+strings.ToUpper(mechs)+" ", " PLAIN ") && strings.Contains(" "+strings.ToUpper(mechs)+" ", " LOGIN ") {
			auth = &loginAuth{user: m.user.Username(), pass: pass, host: m.name}
		} else {
			// PlainAuth refuses to send credentials over a connection
			// without TLS to anything but localhost.
			auth = smtp.PlainAuth("", m.user.Username(), pass, m.name)
		}
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("authentication: %w", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message is the mail as sent: headers, then the body in quoted-printable
// UTF-8 (long lines and any language survive every server).
func (m *Mailer) message(to, subject, body string) ([]byte, error) {
	var b bytes.Buffer
	domain := m.from.Address[strings.LastIndexByte(m.from.Address, '@')+1:]
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", m.from.String())
	header("To", (&mail.Address{Address: to}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body = strings.ReplaceAll(body, "\r\n", "\n")
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// helloName is what EHLO says: this machine's name.
func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \r\n") {
		return "localhost"
	}
	return h
}

// loginAuth is AUTH LOGIN, for servers that offer no PLAIN; like PlainAuth
// it sends credentials only over TLS or to localhost.
type loginAuth struct{ user, pass, host string }

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && server.Name != "localhost" && server.Name != "127.0.0.1" && server.Name != "::1" {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:":
		return []byte(a.user), nil
	case "password:":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected server challenge %q", fromServer)
}
