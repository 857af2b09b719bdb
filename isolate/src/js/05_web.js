// 05_web.js: natively backed web APIs (URL, TextEncoder/TextDecoder, crypto,
// structuredClone, performance). See 00_bootstrap.js for the file convention.
(function (ops, rw) {
  "use strict";
})
