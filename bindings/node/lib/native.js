'use strict';
// Loads the addon built by scripts/build.js (build/gort.node, which finds
// libgort.so.0 next to itself through RUNPATH $ORIGIN).
const path = require('path');
module.exports = require(path.join(__dirname, '..', 'build', 'gort.node'));
