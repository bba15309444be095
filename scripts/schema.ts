/**
 * @module
 * `npm run schema`: writes the files generated from the zod schemas:
 * - `config/rollout.schema.json`, the JSON Schema of a rollout config, so
 *   editors autocomplete and check `config/*.json`;
 * - `src/admin/openapi.json`, the admin API's OpenAPI document, which the
 *   worker serves as is (generating it at run time would add zod's JSON Schema
 *   code, ~20 KiB, to the bundle).
 * `--check` fails if either file is stale (CI runs it).
 */
import { readFile, writeFile } from 'node:fs/promises'
import * as z from 'zod/mini'
import { openApiDocument } from '../src/admin/openapi.ts'
import { RolloutSpec } from '../src/core/config/schema.ts'

const schema = {
  ...z.toJSONSchema(RolloutSpec, { io: 'input', unrepresentable: 'any' }),
  $id: 'https://sluice.dev/schema/rollout.json',
  title: 'Sluice rollout',
}
schema.properties = { $schema: { type: 'string' }, ...(schema.properties as object) }
const files: [URL, unknown][] = [
  [new URL('../config/rollout.schema.json', import.meta.url), schema],
  [new URL('../src/admin/openapi.json', import.meta.url), openApiDocument()],
]

for (const [target, value] of files) {
  const text = `${JSON.stringify(value, null, 2)}\n`
  if (process.argv.includes('--check')) {
    if ((await readFile(target, 'utf8').catch(() => '')) !== text) {
      console.error(`${target.pathname} is stale: run \`npm run schema\` and commit it.`)
      process.exitCode = 1
    }
  } else {
    await writeFile(target, text)
    console.log(`wrote ${target.pathname}`)
  }
}
