import fs from 'node:fs';
import { Ajv } from 'ajv';
import { expect } from 'vitest';
import addFormats from 'ajv-formats';

/** The official OpenAPI 3.0 JSON Schema (spec.openapis.org/oas/3.0/schema/2021-09-28), draft-04 adapted for Ajv 8. */
export function openApi30Validator() {
  const schema = JSON.parse(fs.readFileSync(new URL('../http/fixtures/openapi-3.0-schema.json', import.meta.url), 'utf8')) as Record<string, unknown> & {
    definitions: { Schema: { properties: { multipleOf: Record<string, unknown> } } };
  };
  schema.$id = schema.id;
  delete schema.id;
  delete schema.$schema;
  // draft-04 boolean exclusiveMinimum → draft-06+ number.
  schema.definitions.Schema.properties.multipleOf = { type: 'number', exclusiveMinimum: 0 };
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  return ajv.compile(schema);
}

/** The node's `/openapi.json` is valid OpenAPI 3.0, and lists each `[path, method]` behind the admin token. */
export async function expectAdminRoutesDocumented(httpUrl: string, routes: readonly (readonly [path: string, method: string])[]): Promise<void> {
  const doc = (await (await fetch(new URL('/openapi.json', httpUrl))).json()) as { paths: Record<string, Record<string, { security?: unknown }>> };
  const validate = openApi30Validator();
  expect(validate(doc), JSON.stringify(validate.errors, null, 1)).toBe(true);
  for (const [p, m] of routes) expect(doc.paths[p]?.[m]?.security, `${m} ${p}`).toEqual([{ adminBearer: [] }]);
}
