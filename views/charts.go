package views

import (
	"encoding/json"
	"sync"

	"github.com/a-h/templ"
	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"tally/static"
)

// Charts: go-echarts builds the ECharts options; the page carries them as
// JSON in the chart element's data-options attribute (encoding/json, which
// escapes <, > and &, then templ's attribute escaping: no label, however
// hostile, can leave the attribute). app.js reads the JSON and draws the
// chart, loading ECharts (and the world map) on first use. Not a <script
// type="application/json">: chart partials arrive by HTMX, which removes
// every script element from answers (allowScriptTags is off). Nor
// go-echarts' own page rendering: it writes the options unescaped into an
// inline script.

// Chart is a chart ready to render: the element's id (go-echarts' random
// chart id), its ECharts options and how app.js formats its values.
type Chart struct {
	ID      string
	Options map[string]any
	Unit    string // "", "percent", "seconds", "money", "decimal": tooltip and axis format
	Map     bool   // needs the world map registered
}

// Chart units.
const (
	UnitCount   = ""
	UnitPercent = "percent"
	UnitSeconds = "seconds"
	UnitMoney   = "money"
	UnitDecimal = "decimal"
)

// LineSeries is the main chart's data: the chosen metric over the range's
// buckets, and the previous period aligned by index.
type LineSeries struct {
	Name     string   // the metric, e.g. "Visitors"
	Labels   []string // one per bucket, in the project's timezone
	Current  []float64
	Previous []float64
	Unit     string
}

// chartAssets: go-echarts' asset host is our static files (its page
// rendering is not used; set for completeness).
const chartAssets = "/static/"

// NewLineChart builds the main chart: the current period as a filled
// line, the previous period dashed, an axis tooltip.
func NewLineChart(s LineSeries) Chart {
	line := charts.NewLine()
	line.SetGlobalOptions(
		charts.WithInitializationOpts(opts.Initialization{AssetsHost: chartAssets}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Bottom: "0"}),
		charts.WithGridOpts(opts.Grid{Left: "8", Right: "16", Top: "16", Bottom: "36", ContainLabel: opts.Bool(true)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Min: 0}),
		charts.WithColorsOpts(opts.Colors{"#3e63dd", "#8b8d98"}),
	)
	line.SetXAxis(s.Labels)
	cur := make([]opts.LineData, len(s.Current))
	for i, v := range s.Current {
		cur[i] = opts.LineData{Value: v}
	}
	prev := make([]opts.LineData, len(s.Previous))
	for i, v := range s.Previous {
		prev[i] = opts.LineData{Value: v}
	}
	line.AddSeries(s.Name, cur,
		charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(len(cur) <= 60), Symbol: "circle"}),
		charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.12)}),
		charts.WithLineStyleOpts(opts.LineStyle{Width: 2}),
	)
	line.AddSeries(s.Name+" (previous period)", prev,
		charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)}),
		charts.WithLineStyleOpts(opts.LineStyle{Type: "dashed", Width: 1.5}),
	)
	line.Validate()
	return Chart{ID: line.ChartID, Options: line.JSON(), Unit: s.Unit}
}

// MapValue is one country of the world map.
type MapValue struct {
	Code     string // ISO 3166-1 alpha-2, as events store it
	Visitors int64
}

// WorldMapName is the name app.js registers static/world.json under.
const WorldMapName = "world"

// NewWorldMap builds the geo widget's map: countries colored by visitors.
// The map's regions are named by alpha-2 code (static/world.json, see
// vendor.sh); nameMap shows them by name. Codes the map does not know are
// left out (the table below the map lists them).
func NewWorldMap(values []MapValue) Chart {
	m := charts.NewMap()
	m.RegisterMapType(WorldMapName)
	var max int64 = 1
	data := make([]opts.MapData, 0, len(values))
	for _, v := range values {
		name, ok := countryNames()[v.Code]
		if !ok || v.Visitors <= 0 {
			continue
		}
		data = append(data, opts.MapData{Name: name, Value: v.Visitors})
		if v.Visitors > max {
			max = v.Visitors
		}
	}
	m.SetGlobalOptions(
		charts.WithInitializationOpts(opts.Initialization{AssetsHost: chartAssets}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithVisualMapOpts(opts.VisualMap{
			Type: "continuous", Min: 0, Max: float32(max), Calculable: opts.Bool(false),
			Text: []string{"more", "fewer"}, Left: "left", Bottom: "0",
			InRange: &opts.VisualMapInRange{Color: []string{"#d6e0fd", "#3e63dd"}},
		}),
	)
	m.AddSeries("Visitors", data)
	m.Validate()
	o := m.JSON()
	if series, ok := o["series"].(charts.MultiSeries); ok && len(series) == 1 {
		// go-echarts has no option for these two; set them on the JSON.
		o["series"] = []map[string]any{{
			"name": series[0].Name, "type": "map", "map": WorldMapName, "data": series[0].Data,
			"nameMap": countryNames(), "roam": false, "emphasis": map[string]any{"label": map[string]any{"show": false}},
			"itemStyle": map[string]any{"areaColor": "#eceef2", "borderColor": "#c9ccd3"},
		}}
	}
	return Chart{ID: m.ChartID, Options: o, Map: true}
}

// ChartJSON is a chart's options as the page carries them.
func ChartJSON(c Chart) string {
	b, err := json.Marshal(c.Options)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// Countries: static/countries.json, [numeric, alpha-2, name] per ISO 3166-1
// country (and XK, Kosovo, as GeoIP databases report it).
var (
	countriesOnce sync.Once
	countryByCode map[string]string
)

func loadCountries() {
	countryByCode = map[string]string{}
	raw, err := static.FS.ReadFile("countries.json")
	if err != nil {
		panic("views: countries.json is not embedded")
	}
	var rows [][3]string
	if err := json.Unmarshal(raw, &rows); err != nil {
		panic("views: countries.json: " + err.Error())
	}
	for _, r := range rows {
		countryByCode[r[1]] = r[2]
	}
}

func countryNames() map[string]string { countriesOnce.Do(loadCountries); return countryByCode }

// CountryName is the English name of an alpha-2 country code, or the code
// itself when it is not one.
func CountryName(code string) string {
	if n, ok := countryNames()[code]; ok {
		return n
	}
	return code
}

// chartAttrs are the attributes app.js needs to draw a chart.
func chartAttrs(c Chart) templ.Attributes {
	a := templ.Attributes{
		"id":           c.ID,
		"data-chart":   "",
		"data-options": ChartJSON(c),
		"data-echarts": static.URL("vendor/echarts.min.js"),
	}
	if c.Unit != "" {
		a["data-unit"] = c.Unit
	}
	if c.Map {
		a["data-world"] = static.URL("world.json")
	}
	return a
}
