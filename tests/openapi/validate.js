// validate.js — validates api/openapi.json with @apidevtools/swagger-parser (pinned in
// package-lock.json; installed by `npm ci` from the Makefile's test-openapi target): the document
// must be valid OpenAPI 3.1 with every $ref resolvable. To show the check can fail, a copy with
// one broken $ref, or a parameter without `in`, must be rejected too.
'use strict';
const assert = require('node:assert');
const path = require('node:path');
const test = require('node:test');
const SwaggerParser = require('@apidevtools/swagger-parser');

const docPath = path.join(__dirname, '..', '..', 'api', 'openapi.json');
const load = () => JSON.parse(require('node:fs').readFileSync(docPath, 'utf8'));

test('api/openapi.json is a valid OpenAPI 3.1 document', async () => {
  const api = await SwaggerParser.validate(load());
  assert.match(api.openapi, /^3\.1\./);
  assert.ok(Object.keys(api.paths).length > 40, 'the document lists the routes');
});

test('the validator rejects a broken copy', async () => {
  const bad = load();
  bad.paths['/v2'].get.responses['200'].content['application/json'].schema = {$ref: '#/components/schemas/NoSuchSchema'};
  await assert.rejects(SwaggerParser.validate(bad), /NoSuchSchema|resolve|Missing/i);
  const bad2 = load();
  bad2.paths['/v2/models/{name}'].get.parameters = [{name: 'name', schema: {type: 'string'}}];
  await assert.rejects(SwaggerParser.validate(bad2));
});
