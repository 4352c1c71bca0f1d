package tests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"tally/app/apptest"
	"tally/app/dbtest"
)

// TestShellNavigation checks the dashboard's frame in Chromium: navigation
// links are fetched by HTMX without reloading the page (scripts keep their
// state), the title and address follow, the back button returns, a full
// page load of the same URL works, the keyboard reaches the navigation
// through the skip link, and the dark color scheme applies.
func TestShellNavigation(t *testing.T) {
	t.Parallel()
	chromium := RequireTool(t, "chromium", "/usr/bin/chromium")
	env := apptest.StartOn(t, dbtest.NewDB(t), false)
	owner, next := env.Onboard(t, "owner@shell.test", "shell test password")
	project := strings.Split(next, "/")[2]
	browser := startBrowser(t, chromium)
	setCookies(t, browser, env, owner)

	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	waitFor := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for eval("String("+js+")") != "true" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out (%s)", what, js)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	run("open the overview", chromedp.Navigate(env.URL+"/p/"+project), chromedp.WaitVisible(chromedp.CSS(`[data-testid="overview"]`)))
	eval(`window.__kept = "yes"; "ok"`)
	run("click Settings in the navigation", chromedp.Click(chromedp.CSS(`nav[aria-label="Project"] a[href="/p/`+project+`/settings"]`)))
	waitFor("settings page", `location.pathname === "/p/`+project+`/settings"`)
	waitFor("settings content", `!!document.querySelector('nav[aria-label="Project"] a[aria-current="page"][href$="/settings"]')`)
	if got := eval(`window.__kept || "reloaded"`); got != "yes" {
		t.Errorf("navigating reloaded the page (%s): HTMX navigation is not in use", got)
	}
	if got := eval(`document.title`); !strings.HasPrefix(got, "Settings") {
		t.Errorf("title after navigation: %q", got)
	}
	run("go back", chromedp.NavigateBack())
	waitFor("back to the overview", `location.pathname === "/p/`+project+`" && !!document.querySelector('[data-testid="overview"]')`)

	// A full page load of a URL reached by HTMX works by itself.
	run("reload settings", chromedp.Navigate(env.URL+"/p/"+project+"/settings"), chromedp.WaitVisible(chromedp.CSS(`form`)))
	if got := eval(`window.__kept || "reloaded"`); got != "reloaded" {
		t.Errorf("a full load kept the old page's state")
	}

	// Keyboard: the first Tab reaches the skip link, which leads to main.
	run("tab to the skip link", chromedp.KeyEvent("\t"))
	if got := eval(`document.activeElement.className + "|" + document.activeElement.getAttribute("href")`); got != "skip|#main" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}

	// Dark mode: the page background follows the system preference.
	light := eval(`getComputedStyle(document.body).backgroundColor`)
	if _, err := chromedp.Run(browser, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	dark := eval(`getComputedStyle(document.body).backgroundColor`)
	if light == dark || dark != "rgb(17, 17, 19)" {
		t.Errorf("background light %q, dark %q: the dark scheme does not apply", light, dark)
	}
	buf, err := chromedp.Run(browser, chromedp.FullScreenshot(90))
	if err == nil {
		err = os.WriteFile(filepath.Join(outputDir(t), "shell-dark-settings.png"), buf, 0o644)
	}
	if err != nil {
		t.Error(err)
	}
}
