// Builds dist/: the IIFE for <script async>, the ESM module, type definitions and the loader stub.
// Fails when the IIFE grows past its min+gzip budget or the stub past its size budget.
import { build, transform } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const IIFE_BUDGET = 4096 // bytes, minified + gzip
const STUB_BUDGET = 600 // bytes, minified embed snippet (stub + init call)

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const dist = join(root, 'dist')
const common = {
  bundle: true,
  minify: true,
  target: 'es2020',
  define: { __VERSION__: JSON.stringify(pkg.version) },
  legalComments: 'none',
  logLevel: 'warning',
}

rmSync(dist, { recursive: true, force: true })
mkdirSync(dist, { recursive: true })

await build({ ...common, entryPoints: [join(root, 'src/iife.ts')], format: 'iife', outfile: join(dist, 'clickgate.min.js') })
await build({ ...common, entryPoints: [join(root, 'src/index.ts')], format: 'esm', outfile: join(dist, 'clickgate.esm.js') })
execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', root], { stdio: 'inherit' })

// Unminified modules for the unit tests (one ESM file per source module, shared state in chunks).
rmSync(join(root, 'build/unit'), { recursive: true, force: true })
await build({
  ...common,
  minify: false,
  entryPoints: ['backoff', 'queue', 'session', 'store', 'tracker', 'transport', 'util'].map((m) => join(root, `src/${m}.ts`)),
  format: 'esm',
  splitting: true,
  outdir: join(root, 'build/unit'),
})

const stub = (await transform(readFileSync(join(root, 'src/loader.js'), 'utf8'), { minify: true, legalComments: 'none' })).code.trim()
writeFileSync(join(dist, 'loader.min.js'), stub + '\n')

const size = (file) => {
  const buf = readFileSync(join(dist, file))
  return { raw: buf.length, gz: gzipSync(buf, { level: 9 }).length }
}
const iife = size('clickgate.min.js')
const esm = size('clickgate.esm.js')
const stubBytes = Buffer.byteLength(stub)
const sizes = { version: pkg.version, iife, esm, loader: stubBytes }
writeFileSync(join(dist, 'sizes.json'), JSON.stringify(sizes, null, 2) + '\n')

console.log(`clickgate.js ${pkg.version}`)
console.log(`  dist/clickgate.min.js  ${iife.raw} B min, ${iife.gz} B min+gzip (budget ${IIFE_BUDGET})`)
console.log(`  dist/clickgate.esm.js  ${esm.raw} B min, ${esm.gz} B min+gzip`)
console.log(`  dist/loader.min.js     ${stubBytes} B (budget ${STUB_BUDGET})`)

let failed = false
if (iife.gz > IIFE_BUDGET) {
  console.error(`error: clickgate.min.js is ${iife.gz} B min+gzip, over the ${IIFE_BUDGET} B budget`)
  failed = true
}
if (stubBytes > STUB_BUDGET) {
  console.error(`error: the loader stub is ${stubBytes} B, over the ${STUB_BUDGET} B budget`)
  failed = true
}
if (failed) process.exit(1)
