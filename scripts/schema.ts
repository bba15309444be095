/**
 * @module
 * `npm run schema`: writes the JSON Schema of a rollout config to
 * `config/rollout.schema.json`, generated from the one zod schema, so editors
 * autocomplete and check `config/*.json`. `--check` fails if the file is stale.
 */
import { readFile, writeFile } from 'node:fs/promises'
import * as z from 'zod/mini'
import { RolloutSpec } from '../src/core/config/schema.ts'

const target = new URL('../config/rollout.schema.json', import.meta.url)

const schema = {
  ...z.toJSONSchema(RolloutSpec, { io: 'input', unrepresentable: 'any' }),
  $id: 'https://sluice.dev/schema/rollout.json',
  title: 'Sluice rollout',
}
schema.properties = { $schema: { type: 'string' }, ...(schema.properties as object) }
const text = `${JSON.stringify(schema, null, 2)}\n`

if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '')
  if (current !== text) {
    console.error('config/rollout.schema.json is stale: run `npm run schema` and commit it.')
    process.exit(1)
  }
} else {
  await writeFile(target, text)
  console.log(`wrote ${target.pathname}`)
}
