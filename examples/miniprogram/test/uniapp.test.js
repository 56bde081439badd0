'use strict';
// The same client tests for the uni-app wrapper (uniapp/utils/request.js over `uni`).
// uniapp/ uses ES module syntax in .js files without a package.json, as uni-app
// projects do; Node 20.19+ loads them through module syntax detection.
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { defineSuite } = require('../testlib/suite.js');

defineSuite({
  name: 'uni-app',
  globalName: 'uni',
  load: async () => {
    const file = path.join(__dirname, '..', 'uniapp', 'utils', 'request.js');
    try {
      return await import(pathToFileURL(file).href);
    } catch (err) {
      throw new Error('cannot load ' + file + ' as an ES module (Node ' + process.version +
        '; needs 20.19+ for module syntax detection): ' + err.message);
    }
  },
});
