// build-world-map.mjs: builds a small static SVG world map (land outlines only)
// for the "where you signed in from" widget.
//
// Usage:  node build-world-map.mjs [out.svg]     (default: world-map.svg)
// Needs:  Node 20+, npm packages `world-atlas` and `topojson-client`.
//
// Data: Natural Earth 1:110m land (public domain, https://www.naturalearthdata.com/),
// via the `world-atlas` npm package (TopoJSON build of Natural Earth, ISC licence).
//
// Projection: plain equirectangular, so a caller can place markers with no library:
//     x = lon + 180,  y = 90 - lat     (viewBox "0 0 360 150")
// The viewBox is cropped at lat -60 (y = 150), which drops Antarctica: it takes a lot
// of space and bytes and nobody signs in from there.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { feature } from "topojson-client";

const require = createRequire(import.meta.url);
const outPath = process.argv[2] ?? "world-map.svg";

const MIN_LAT = -60; // crop line; viewBox height = 90 - MIN_LAT = 150
const HEIGHT = 90 - MIN_LAT;

// TopoJSON -> GeoJSON (a single MultiPolygon for all land).
const topo = JSON.parse(readFileSync(require.resolve("world-atlas/land-110m.json"), "utf8"));
const land = feature(topo, topo.objects.land);
const geoms = land.type === "FeatureCollection" ? land.features.map((f) => f.geometry) : [land.geometry];
const polygons = geoms.flatMap((g) => (g.type === "Polygon" ? [g.coordinates] : g.coordinates));

// Work in integer tenths of a degree so rounding to 1 decimal is exact and relative
// offsets never accumulate drift.
const project = ([lon, lat]) => [
  Math.round((lon + 180) * 10),
  Math.round(Math.min(90 - lat, HEIGHT) * 10), // clamp anything poking below the crop line
];

// Number formatting: drop the leading zero (0.5 -> .5, -0.5 -> -.5).
const fmt = (t) => {
  let s = (t / 10).toString();
  return s.replace(/^(-?)0\./, "$1.");
};

let d = "";
let lastCmd = "";
let lastNum = ""; // last number written, to decide whether a separator is needed

// Append numbers, inserting a space only when the SVG path grammar requires one.
function emitNums(nums) {
  let s = "";
  for (const n of nums) {
    const needSep = lastNum !== "" && !(n.startsWith("-") || (n.startsWith(".") && lastNum.includes(".")));
    s += (needSep ? " " : "") + n;
    lastNum = n;
  }
  return s;
}

// Length of a candidate command (without committing it), to pick the shortest one.
function candidate(cmd, nums) {
  const saved = lastNum;
  if (cmd !== lastCmd) lastNum = "";
  const s = (cmd !== lastCmd ? cmd : "") + emitNums(nums);
  lastNum = saved;
  return s;
}

// Antimeridian handling. world-atlas stitches geometry across lon ±180, so a ring such as
// Chukotka, Fiji or Wrangel Island jumps from -180 to +180 and, drawn naively, would paint
// a stripe across the whole map. Fix: "unwrap" the ring so its longitudes are continuous
// (e.g. 170..190), then clip it to [-180, 180] and clip a copy shifted by 360 likewise.
function unwrap(ring) {
  const out = [ring[0].slice()];
  for (let i = 1; i < ring.length; i++) {
    let [lon, lat] = ring[i];
    const prev = out[i - 1][0];
    while (lon - prev > 180) lon -= 360;
    while (lon - prev < -180) lon += 360;
    out.push([lon, lat]);
  }
  return out;
}

// Sutherland-Hodgman clip of a closed ring against one vertical line, keeping
// the side where keep(lon) is true.
function clipLon(ring, edge, keep) {
  const out = [];
  for (let i = 0; i < ring.length - 1; i++) {
    const a = ring[i], b = ring[i + 1];
    const ka = keep(a[0]), kb = keep(b[0]);
    if (ka) out.push(a);
    if (ka !== kb) {
      const t = (edge - a[0]) / (b[0] - a[0]);
      out.push([edge, a[1] + t * (b[1] - a[1])]);
    }
  }
  if (out.length) out.push(out[0]);
  return out;
}

// Returns one or more rings, all within lon [-180, 180].
function splitAtAntimeridian(ring) {
  const u = unwrap(ring);
  const lons = u.map((p) => p[0]);
  const min = Math.min(...lons), max = Math.max(...lons);
  if (min >= -180 && max <= 180) return [ring];
  const shift = max > 180 ? -360 : 360;
  const inner = clipLon(u, shift < 0 ? 180 : -180, shift < 0 ? (x) => x <= 180 : (x) => x >= -180);
  const moved = u.map(([lon, lat]) => [lon + shift, lat]);
  const outer = clipLon(moved, shift < 0 ? -180 : 180, shift < 0 ? (x) => x >= -180 : (x) => x <= 180);
  return [inner, outer].filter((r) => r.length >= 4);
}

let ringsKept = 0;
let ringsDropped = 0;
for (const poly of polygons) {
  // Drop polygons that lie entirely south of the crop line (Antarctica).
  if (poly[0].every(([, lat]) => lat < MIN_LAT)) { ringsDropped += poly.length; continue; }
  for (const ring of poly.flatMap(splitAtAntimeridian)) {
    // Project and remove consecutive duplicates created by rounding.
    const pts = [];
    for (const p of ring) {
      const q = project(p);
      const prev = pts[pts.length - 1];
      if (!prev || prev[0] !== q[0] || prev[1] !== q[1]) pts.push(q);
    }
    // The closing point duplicates the first; "z" closes the ring instead.
    const first = pts[0];
    const last = pts[pts.length - 1];
    if (pts.length > 1 && last[0] === first[0] && last[1] === first[1]) pts.pop();
    if (pts.length < 3) { ringsDropped++; continue; } // collapsed to nothing at this precision
    ringsKept++;

    // Move to the start with an absolute M (shorter in practice, and robust).
    lastCmd = "M"; lastNum = "";
    d += "M" + emitNums([fmt(first[0]), fmt(first[1])]);
    lastCmd = "L"; // implicit command after M is L

    let [cx, cy] = first;
    for (let i = 1; i < pts.length; i++) {
      const [x, y] = pts[i];
      const dx = x - cx, dy = y - cy;
      const opts = [
        ["L", [fmt(x), fmt(y)]],
        ["l", [fmt(dx), fmt(dy)]],
      ];
      if (dy === 0) opts.push(["H", [fmt(x)]], ["h", [fmt(dx)]]);
      if (dx === 0) opts.push(["V", [fmt(y)]], ["v", [fmt(dy)]]);
      let best = null;
      for (const [cmd, nums] of opts) {
        const s = candidate(cmd, nums);
        if (!best || s.length < best.s.length) best = { cmd, nums, s };
      }
      if (best.cmd !== lastCmd) { lastNum = ""; d += best.cmd; lastCmd = best.cmd; }
      d += emitNums(best.nums);
      cx = x; cy = y;
    }
    d += "z";
    lastCmd = "z"; lastNum = "";
  }
}

const svg =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 ${HEIGHT}" role="img" aria-label="World map">` +
  `<path class="land" fill="currentColor" d="${d}"/></svg>\n`;

writeFileSync(outPath, svg);
console.log(`${outPath}: ${Buffer.byteLength(svg)} bytes (${ringsKept} rings kept, ${ringsDropped} dropped)`);
