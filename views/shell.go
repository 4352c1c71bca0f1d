package views

import "tally/static"

// Shell is what every dashboard page's frame shows: who is logged in, the
// project switcher, the navigation and the flash messages.
type Shell struct {
	Title    string    // the page's own title; " · tally" is appended
	User     *UserLink // nil on pages before login
	Projects []ProjectLink
	Project  *ProjectLink // the current project, if the page belongs to one
	OrgID    string       // the current organization, if any
	Section  string       // the navigation entry to mark current (see Nav)
	Flashes  []Flash
}

// UserLink is the logged-in user in the header.
type UserLink struct {
	Name  string
	Email string
}

// ProjectLink is a project in the switcher.
type ProjectLink struct {
	ID        string
	Name      string
	OrgID     string
	OrgName   string
	CanManage bool // owner or admin: may see Settings
}

// Flash is a one-time message shown after a redirect.
type Flash struct {
	Kind string // "ok" or "error"
	Text string
}

// NavItem is one entry of a project's navigation.
type NavItem struct {
	Section string
	Label   string
	Path    string // under /p/{id}
	Manage  bool   // shown only to owners and admins
}

// Nav is the project navigation, in order.
var Nav = []NavItem{
	{"overview", "Overview", "", false},
	{"realtime", "Realtime", "/realtime", false},
	{"events", "Events", "/events", false},
	{"profiles", "Profiles", "/profiles", false},
	{"reports", "Reports", "/reports", false},
	{"dashboards", "Dashboards", "/dashboards", false},
	{"tracking", "Tracking", "/tracking", false},
	{"settings", "Settings", "/settings", true},
}

// ProjectPath is the URL of a section of a project.
func ProjectPath(projectID, sub string) string { return "/p/" + projectID + sub }

// The files every page loads (chart pages add echarts). Their gzipped total
// has a budget: see TestShellAssetBudget.
var (
	ShellStyles  = []string{"app.css"}
	ShellScripts = []string{"vendor/htmx.min.js", "vendor/htmx-ext-sse.min.js", "app.js"}
)

func asset(name string) string { return static.URL(name) }

func fullTitle(t string) string {
	if t == "" {
		return "tally"
	}
	return t + " · tally"
}

func ariaCurrent(on bool) string {
	if on {
		return "page"
	}
	return ""
}

// htmxConfig makes HTMX swap error answers too (a form with a mistake comes
// back 400 with its messages), and never evaluate scripts in answers.
const htmxConfig = `{"responseHandling":[{"code":"204","swap":false},{"code":"[2345]..","swap":true,"error":false}],"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"includeIndicatorStyles":false}`
