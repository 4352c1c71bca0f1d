package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tally/app/apptest"
	"tally/app/dbtest"
)

// TestClientsInTheBrowser logs in through the form, opens Settings →
// Clients, creates a client, reads its secret off the page, proves it
// authenticates ingest, revokes it with the button and proves ingest
// refuses it right away. Screenshots of the settings pages go to output/.
func TestClientsInTheBrowser(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	env := apptest.StartOn(t, dbtest.NewDB(t), false)
	const email, password = "owner@clients.test", "clients test password"
	_, next := env.Onboard(t, email, password)
	projectID := strings.Split(next, "/")[2]

	browser := startBrowser(t, chromium)
	shots := outputDir(t)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	screenshot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(browser, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		if err := os.WriteFile(filepath.Join(shots, name), buf, 0o644); err != nil {
			t.Error(err)
		}
	}
	track := func(clientID, secret string) int {
		b, _ := json.Marshal(map[string]any{"type": "track", "payload": map[string]any{"name": "invoice_paid", "profileId": "u1"}})
		return env.Do(t, http.MethodPost, "/track", b, map[string]string{
			"Content-Type": "application/json", "openpanel-client-id": clientID, "openpanel-client-secret": secret,
		}).Status
	}

	run("log in through the form",
		chromedp.Navigate(env.URL+"/login"),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`[data-testid=login-form] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=logout]`)),
	)
	settings := "/p/" + projectID + "/settings"
	run("open Settings", chromedp.Navigate(env.URL+"/p/"+projectID+"/"),
		chromedp.Click(chromedp.CSS(`nav a[href="`+settings+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=settings-form]`)),
	)
	screenshot("settings-1-general.png")
	run("open the Clients tab",
		chromedp.Click(chromedp.CSS(`[data-testid=tab-clients]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=new-client-form]`)),
	)
	screenshot("settings-2-clients.png")

	run("create a client",
		chromedp.SendKeys(chromedp.ID("client-name"), "Billing backend"),
		chromedp.Click(chromedp.CSS(`[data-testid=create-client]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=client-secret]`)),
	)
	screenshot("settings-3-client-secret.png")
	secret, clientID := text(`[data-testid=client-secret]`), text(`[data-testid=client-id]`)
	if !regexp.MustCompile(`^sec_[0-9a-f]{20}$`).MatchString(secret) || len(clientID) != 36 {
		t.Fatalf("the page shows secret %q for client %q", secret, clientID)
	}
	if s := track(clientID, secret); s != http.StatusOK {
		t.Fatalf("ingest with the secret read off the page: %d", s)
	}
	// Reloading must not ask for the POST-only URL (nor show the secret).
	if loc, err := chromedp.Run(browser, chromedp.Evaluate[string](`location.pathname`)); err != nil || loc != settings+"/clients" {
		t.Errorf("the address bar shows %q (%v) after creating a client, want %s/clients", loc, err, settings)
	}

	row := `tr[data-client-id="` + clientID + `"]`
	run("back to the list",
		chromedp.Click(chromedp.CSS(`[data-testid=clients-done]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` [data-testid=revoke-client]`)),
	)
	if html, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil || strings.Contains(html, secret) {
		t.Fatalf("the clients list shows the secret again (%v)", err)
	}
	run("revoke it",
		chromedp.Click(chromedp.CSS(row+` [data-testid=revoke-client]`)),
		chromedp.WaitNotPresent(chromedp.CSS(row+` [data-testid=revoke-client]`)),
	)
	if status := text(row + ` [data-testid=client-status]`); !strings.HasPrefix(status, "revoked") {
		t.Fatalf("the list shows the revoked client as %q", status)
	}
	screenshot("settings-4-client-revoked.png")
	if s := track(clientID, secret); s != http.StatusUnauthorized {
		t.Fatalf("ingest right after revoking in the browser: %d, want 401", s)
	}

	run("open the Traffic filters tab",
		chromedp.Click(chromedp.CSS(`[data-testid=tab-filters]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=new-filter-form]`)),
	)
	screenshot("settings-5-filters.png")
	run("open the Danger zone tab",
		chromedp.Click(chromedp.CSS(`[data-testid=tab-delete]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=delete-form]`)),
	)
	screenshot("settings-6-delete.png")
}
