// Package mailtest is a tiny real SMTP server for tests: it listens on
// 127.0.0.1, speaks enough of RFC 5321 (EHLO, optional STARTTLS and AUTH
// PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) over net/textproto, and
// keeps every received mail for the test to read.
package mailtest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mail is a received message.
type Mail struct {
	From    string   // envelope sender
	To      []string // envelope recipients
	Auth    string   // "user:pass" when the client authenticated
	TLS     bool     // whether the conversation was encrypted
	Data    string   // the raw message
	Header  mail.Header
	Subject string // decoded
	Body    string // decoded text
}

// Options shape the server.
type Options struct {
	TLS      *tls.Config // with Implicit: TLS from the start; else offered as STARTTLS
	Implicit bool
	Auth     string // "user:pass" to require AUTH; "" accepts mail without it
}

// Server is a running SMTP server.
type Server struct {
	Addr string // 127.0.0.1:port
	opts Options
	ln   net.Listener

	mu    sync.Mutex
	mails []Mail
	added chan struct{}
}

// Start starts a server that stops when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Implicit {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts, ln: ln, added: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return s
}

// URL is the TALLY_SMTP_URL of this server.
func (s *Server) URL() string {
	scheme := "smtp"
	if s.opts.Implicit {
		scheme = "smtps"
	}
	user := ""
	if s.opts.Auth != "" {
		u, p, _ := strings.Cut(s.opts.Auth, ":")
		user = url.UserPassword(u, p).String() + "@"
	}
	return scheme + "://" + user + s.Addr
}

// Mails returns every mail received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait returns the first mail to rcpt, waiting up to 15 seconds for it.
func (s *Server) Wait(t testing.TB, rcpt string) Mail {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		for _, m := range s.Mails() {
			for _, to := range m.To {
				if strings.EqualFold(to, rcpt) {
					return m
				}
			}
		}
		select {
		case <-s.added:
		case <-deadline:
			t.Fatalf("no mail to %s within 15s (got %d others)", rcpt, len(s.Mails()))
		}
	}
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, isTLS := c.(*tls.Conn)
	tp := textproto.NewConn(c)
	reply := func(code int, lines ...string) bool {
		for i, l := range lines {
			sep := " "
			if i < len(lines)-1 {
				sep = "-"
			}
			if err := tp.PrintfLine("%d%s%s", code, sep, l); err != nil {
				return false
			}
		}
		return true
	}
	reply(220, "mailtest ESMTP ready")
	var cur Mail
	authed, greeted := s.opts.Auth == "", false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			greeted = true
			exts := []string{"mailtest", "8BITMIME", "PIPELINING"}
			if s.opts.TLS != nil && !s.opts.Implicit && !isTLS {
				exts = append(exts, "STARTTLS")
			}
			if s.opts.Auth != "" {
				exts = append(exts, "AUTH PLAIN LOGIN")
			}
			reply(250, exts...)
		case "STARTTLS":
			if s.opts.TLS == nil || isTLS {
				reply(502, "not offered")
				continue
			}
			reply(220, "go ahead")
			tc := tls.Server(c, s.opts.TLS)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, isTLS, greeted = tc, true, false
			tp = textproto.NewConn(tc)
			cur = Mail{}
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			var user, pass string
			switch strings.ToUpper(mech) {
			case "PLAIN":
				if initial == "" {
					reply(334, "")
					if initial, err = tp.ReadLine(); err != nil {
						return
					}
				}
				raw, _ := base64.StdEncoding.DecodeString(initial)
				parts := strings.Split(string(raw), "\x00")
				if len(parts) == 3 {
					user, pass = parts[1], parts[2]
				}
			case "LOGIN":
				reply(334, base64.StdEncoding.EncodeToString([]byte("Username:")))
				u, err := tp.ReadLine()
				if err != nil {
					return
				}
				reply(334, base64.StdEncoding.EncodeToString([]byte("Password:")))
				p, err := tp.ReadLine()
				if err != nil {
					return
				}
				ub, _ := base64.StdEncoding.DecodeString(u)
				pb, _ := base64.StdEncoding.DecodeString(p)
				user, pass = string(ub), string(pb)
			default:
				reply(504, "unknown mechanism")
				continue
			}
			if user+":"+pass != s.opts.Auth {
				reply(535, "authentication failed")
				continue
			}
			authed = true
			cur.Auth = user + ":" + pass
			reply(235, "ok")
		case "MAIL":
			if !greeted {
				reply(503, "EHLO first")
				continue
			}
			if !authed {
				reply(530, "authentication required")
				continue
			}
			cur.From = addrArg(arg)
			reply(250, "ok")
		case "RCPT":
			if cur.From == "" {
				reply(503, "MAIL first")
				continue
			}
			cur.To = append(cur.To, addrArg(arg))
			reply(250, "ok")
		case "DATA":
			if len(cur.To) == 0 {
				reply(503, "RCPT first")
				continue
			}
			reply(354, "end with <CRLF>.<CRLF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			cur.TLS = isTLS
			cur.Data = string(data)
			parse(&cur)
			s.mu.Lock()
			s.mails = append(s.mails, cur)
			s.mu.Unlock()
			select {
			case s.added <- struct{}{}:
			default:
			}
			auth := cur.Auth
			cur = Mail{Auth: auth}
			reply(250, "queued")
		case "RSET":
			cur = Mail{Auth: cur.Auth}
			reply(250, "ok")
		case "NOOP":
			reply(250, "ok")
		case "QUIT":
			reply(221, "bye")
			return
		default:
			reply(500, "unknown command")
		}
	}
}

// addrArg takes the address out of "FROM:<a@b>" or "TO:<a@b> SIZE=1".
func addrArg(arg string) string {
	_, a, _ := strings.Cut(arg, ":")
	a = strings.TrimSpace(a)
	if i := strings.IndexByte(a, '>'); strings.HasPrefix(a, "<") && i > 0 {
		return a[1:i]
	}
	return a
}

// parse decodes the headers, subject and body of a received mail.
func parse(m *Mail) {
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(m.Data)))
	if err != nil {
		return
	}
	m.Header = msg.Header
	var dec mime.WordDecoder
	if s, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = s
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, _ := io.ReadAll(body)
	m.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
}
