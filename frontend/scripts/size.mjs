// Gzipped size of the built JavaScript (and CSS), against the budget in issue 7.
// Usage: node scripts/size.mjs [--budget-kb 400] — exits 1 when the JS is over budget.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const dist = fileURLToPath(new URL('../../src/trafficatlas/web/dist', import.meta.url))
const flag = process.argv.indexOf('--budget-kb')
const budgetKb = flag > 0 ? Number(process.argv[flag + 1]) : 400

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

let all
try {
  all = files(dist)
} catch {
  console.error(`no build in ${dist}: run npm run build first`)
  process.exit(2)
}

const rows = all
  .filter((f) => /\.(js|css)$/.test(f))
  .map((f) => {
    const raw = readFileSync(f)
    return { file: relative(dist, f), raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length }
  })
  .sort((a, b) => b.gzip - a.gzip)

const kb = (n) => (n / 1024).toFixed(1).padStart(8)
for (const r of rows) console.log(`${kb(r.raw)} KB raw ${kb(r.gzip)} KB gzip  ${r.file}`)
const js = rows.filter((r) => r.file.endsWith('.js')).reduce((s, r) => s + r.gzip, 0)
const css = rows.filter((r) => r.file.endsWith('.css')).reduce((s, r) => s + r.gzip, 0)
console.log(`JS total: ${(js / 1024).toFixed(1)} KB gzipped (budget ${budgetKb} KB); CSS: ${(css / 1024).toFixed(1)} KB gzipped`)
if (js > budgetKb * 1024) {
  console.error(`over budget by ${((js - budgetKb * 1024) / 1024).toFixed(1)} KB`)
  process.exit(1)
}
