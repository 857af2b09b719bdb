//! `GET /`: the live dashboard. Plain files compiled into the binary (no
//! build step for users): `assets/dashboard.{html,js,css}`, which poll
//! `/stats` and draw with uPlot, vendored unchanged from npm
//! (`assets/uplot/`, MIT, with its licence).

/// The files the admin listener serves besides its routes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("assets/dashboard.html"),
    ),
    (
        "/assets/dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/dashboard.js"),
    ),
    (
        "/assets/dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/dashboard.css"),
    ),
    (
        "/assets/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/uplot/uPlot.iife.min.js"),
    ),
    (
        "/assets/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/uplot/uPlot.min.css"),
    ),
    (
        "/assets/uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("assets/uplot/LICENSE"),
    ),
];

/// The content type and bytes of the file at `path`, if there is one.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| (*t, *b))
}
