'use strict';
// The client tests for the native Mini Program wrapper (native/utils/request.js over `wx`).
// Run: node --test examples/miniprogram/test/
const path = require('node:path');
const { defineSuite } = require('../testlib/suite.js');

defineSuite({
  name: 'native',
  globalName: 'wx',
  load: async () => require(path.join(__dirname, '..', 'native', 'utils', 'request.js')),
});
