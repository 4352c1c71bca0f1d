#!/usr/bin/env bash
# Copies the pinned front-end files from npm into static/vendor/ and the
# tracker into static/op1.js (committed).
# Re-run after changing a version; CI re-runs it and fails if the result
# differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# package@version  file-in-package  destination (under static/)
files=(
  "htmx.org@2.0.11 dist/htmx.min.js vendor/htmx.min.js"
  "htmx-ext-sse@2.2.4 dist/sse.min.js vendor/htmx-ext-sse.min.js"
  "echarts@5.6.0 dist/echarts.min.js vendor/echarts.min.js"
  # OpenPanel's browser tracker, served at /op1.js for tracked sites: the
  # version the compatibility tests use (tests/npm.go WebPackage).
  "@openpanel/web@1.4.1 dist/src/tracker.global.js op1.js"
)
for entry in "${files[@]}"; do
  read -r pkg file dest <<<"$entry"
  dir="$tmp/${pkg//[@\/]/_}"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
  src="$dir/package/$file"
  if [ ! -f "$src" ]; then
    # htmx-ext-sse ships sse.js (no min build) in some versions
    alt="$dir/package/$(dirname "$file")/$(basename "$file" .min.js).js"
    [ -f "$alt" ] && src="$alt" || { echo "missing $file in $pkg" >&2; exit 1; }
  fi
  cp "$src" "$dest"
  echo "vendored $pkg -> static/$dest"
done

# The overview's world map: world-atlas's 110m countries (TopoJSON, ISC)
# converted to GeoJSON with topojson-client (ISC). world-atlas names
# countries by ISO 3166-1 numeric code; events store alpha-2 codes, so each
# feature is renamed to its alpha-2 code (countries.json, our own table of
# the standard: [numeric, alpha-2, English name]). Coordinates are rounded
# to 0.01° (about 1 km, finer than the 1:110m source), features sorted by
# code: the output is byte-for-byte reproducible. Antarctica is left out;
# rings crossing the antimeridian are unwrapped (see below).
map_dir="$tmp/world"
mkdir -p "$map_dir"
(cd "$map_dir" && npm pack --silent world-atlas@2.0.2 topojson-client@3.1.0 >/dev/null &&
  mkdir atlas client && tar xzf world-atlas-2.0.2.tgz -C atlas && tar xzf topojson-client-3.1.0.tgz -C client)
node - "$map_dir/client/package/dist/topojson-client.js" "$map_dir/atlas/package/countries-110m.json" countries.json world.json <<'JS'
const fs = require("fs");
const [client, atlas, codes, out] = process.argv.slice(2);
const topojson = require(client);
const world = JSON.parse(fs.readFileSync(atlas, "utf8"));
const alpha2 = new Map(JSON.parse(fs.readFileSync(codes, "utf8")).filter((r) => r[0]).map((r) => [r[0], r[1]]));
// Features without a numeric code in world-atlas: Kosovo has the
// user-assigned XK (as GeoIP databases report it); the others belong to
// the country GeoIP reports for them.
const byName = { "Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO" };
const round = (c) => (typeof c[0] === "number" ? [Math.round(c[0] * 100) / 100, Math.round(c[1] * 100) / 100] : c.map(round));
// Rings that cross the antimeridian (Russia, Fiji) would be drawn across
// the whole map by a flat projection: move their minority side by 360°.
const unwrap = (ring) => {
  if (!ring.some((p, i) => i > 0 && Math.abs(p[0] - ring[i - 1][0]) > 180)) return ring;
  const east = ring.filter((p) => p[0] > 0).length >= ring.filter((p) => p[0] < 0).length;
  return ring.map(([x, y]) => [east && x < 0 ? x + 360 : !east && x > 0 ? x - 360 : x, y]);
};
const polygons = (g) => (g.type === "Polygon" ? [g.coordinates] : g.coordinates);
const merged = new Map();
for (const f of topojson.feature(world, world.objects.countries).features) {
  const code = f.id ? alpha2.get(f.id) : byName[f.properties.name];
  if (!code) throw new Error("no alpha-2 code for " + f.id + " " + f.properties.name);
  if (code === "AQ") continue;
  merged.set(code, (merged.get(code) || []).concat(polygons(f.geometry)));
}
const features = [...merged.keys()].sort().map((code) => {
  const ps = merged.get(code).map((polygon) => round(polygon).map(unwrap));
  const geometry = ps.length === 1 ? { type: "Polygon", coordinates: ps[0] } : { type: "MultiPolygon", coordinates: ps };
  return { type: "Feature", properties: { name: code }, geometry };
});
fs.writeFileSync(out, JSON.stringify({ type: "FeatureCollection", features }) + "\n");
console.log("wrote static/" + out + ": " + features.length + " countries");
JS
