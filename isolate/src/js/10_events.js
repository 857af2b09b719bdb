// 10_events: see the header of 00_bootstrap.js for the file convention.
(function (ops, rw) {
  "use strict";
})
