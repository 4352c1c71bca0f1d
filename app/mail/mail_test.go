package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	tmail "tally/app/mail"
	"tally/app/mail/mailtest"
)

// selfSigned returns a server certificate for 127.0.0.1 and a client
// config that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

func TestUnconfiguredMailer(t *testing.T) {
	t.Parallel()
	m, err := tmail.New("", "tally@example.com")
	if err != nil || m.Configured() {
		t.Fatalf("empty URL: configured=%v err=%v", m.Configured(), err)
	}
	if err := m.Send(t.Context(), "a@example.com", "s", "b"); err == nil {
		t.Fatal("an unconfigured mailer sent")
	}
	var nilMailer *tmail.Mailer
	if nilMailer.Configured() {
		t.Fatal("nil mailer is configured")
	}
	for _, bad := range []string{"http://host", "smtp://", "smtp:///x"} {
		if _, err := tmail.New(bad, "tally@example.com"); err == nil {
			t.Errorf("URL %q accepted", bad)
		}
	}
	if _, err := tmail.New("smtp://host:25", "not an address"); err == nil {
		t.Error("bad sender accepted")
	}
}

func TestSendPlainWithAuthAndHeaders(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Auth: "postmaster:p@ss word"})
	m, err := tmail.New(srv.URL(), "Tally Stats <stats@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("0123456789", 20) // one line longer than SMTP's 998 limit would allow raw
	body := "Grüße!\n\n.a line with a leading dot\nhttps://stats.example.com/reset/" + long + "\n"
	if err := m.Send(t.Context(), "Anna@Example.com", "Zurücksetzen: your password", body); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, "Anna@Example.com")
	if got.From != "stats@example.com" || got.Auth != "postmaster:p@ss word" || got.TLS {
		t.Errorf("envelope from=%q auth=%q tls=%v", got.From, got.Auth, got.TLS)
	}
	if got.Subject != "Zurücksetzen: your password" || !strings.Contains(got.Header.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("subject %q (raw %q)", got.Subject, got.Header.Get("Subject"))
	}
	if got.Body != body {
		t.Errorf("body %q, want %q", got.Body, body)
	}
	from, err := mail.ParseAddress(got.Header.Get("From"))
	if err != nil || from.Address != "stats@example.com" || from.Name != "Tally Stats" {
		t.Errorf("From %q", got.Header.Get("From"))
	}
	if d, err := got.Header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date %q: %v", got.Header.Get("Date"), err)
	}
	if id := got.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	for k, want := range map[string]string{"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8", "To": "<anna@example.com>"} {
		if v := got.Header.Get(k); !strings.EqualFold(v, want) {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	for _, line := range strings.Split(got.Data, "\n") {
		if len(line) > 78 {
			t.Errorf("raw line of %d bytes: %q", len(line), line)
		}
	}
}

func TestSendRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	m, err := tmail.New(srv.URL(), "tally@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), "a@example.com\r\nBcc: b@example.com", "s", "b"); err == nil {
		t.Error("recipient with CRLF accepted")
	}
	if err := m.Send(t.Context(), "a@example.com", "s\r\nBcc: b@example.com", "b"); err == nil {
		t.Error("subject with CRLF accepted")
	}
	if n := len(srv.Mails()); n != 0 {
		t.Errorf("%d mails sent", n)
	}
}

func TestSendStartTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSigned(t)
	srv := mailtest.Start(t, mailtest.Options{TLS: serverTLS, Auth: "u:p"})
	m, err := tmail.New(srv.URL(), "tally@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Without trusting the certificate, STARTTLS fails and nothing is sent.
	if err := m.Send(t.Context(), "x@example.com", "s", "b"); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	m.TLSConfig = clientTLS
	if err := m.Send(t.Context(), "x@example.com", "hello", "over TLS"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Wait(t, "x@example.com"); !got.TLS || got.Auth != "u:p" || got.Body != "over TLS\n" {
		t.Errorf("tls=%v auth=%q body=%q", got.TLS, got.Auth, got.Body)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSigned(t)
	srv := mailtest.Start(t, mailtest.Options{TLS: serverTLS, Implicit: true, Auth: "u:p"})
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatal(srv.URL())
	}
	m, err := tmail.New(srv.URL(), "tally@example.com")
	if err != nil {
		t.Fatal(err)
	}
	m.TLSConfig = clientTLS
	if err := m.Send(t.Context(), "y@example.com", "hello", "implicit"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Wait(t, "y@example.com"); !got.TLS || got.Body != "implicit\n" {
		t.Errorf("tls=%v body=%q", got.TLS, got.Body)
	}
}

func TestSendWrongPassword(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Auth: "u:right"})
	m, err := tmail.New(strings.Replace(srv.URL(), ":right@", ":wrong@", 1), "tally@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), "x@example.com", "s", "b"); err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestSendTimesOut(t *testing.T) {
	t.Parallel()
	// A server that accepts the connection and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	m, err := tmail.New("smtp://"+ln.Addr().String(), "tally@example.com")
	if err != nil {
		t.Fatal(err)
	}
	m.Timeout = 300 * time.Millisecond
	start := time.Now()
	if err := m.Send(context.Background(), "x@example.com", "s", "b"); err == nil {
		t.Fatal("sent to a silent server")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send took %s with a 300ms timeout", d)
	}
	// Cancelling the caller's context ends it too.
	m.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := m.Send(ctx, "x@example.com", "s", "b"); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled Send: %v after %s", err, time.Since(start))
	}
}
