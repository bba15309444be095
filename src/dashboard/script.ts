/**
 * @module
 * Turns the client's parts into the page's script, without a build step: the
 * bundler has already compiled `client/` to JavaScript, so each exported
 * function's source text (`Function.prototype.toString`) is browser-ready.
 * The script is the helpers' declarations, then `main` called with the config.
 */
import * as client from './client/index.ts'
import { type ClientConfig, clientConfig } from './commands.ts'

/**
 * Wrangler bundles with esbuild's `keepNames`, which wraps every inner named
 * function in a bundle-level helper (`n(()=>0,"f")`). The browser has no such
 * helper, so the script defines one under the same (possibly minified) name,
 * read off this probe, which the bundler compiles like any other function.
 */
export function keepNamesProbe() {
  const f = () => 0
  return f
}

/** `var n=(f)=>f;` when `probe` shows the wrapping (`n(()=>0,"f")`), else nothing. */
export function keepNamesShim(probe: string): string {
  const m = /([\w$]+)\(\s*\(\)\s*=>\s*0\s*,\s*["']f["']\s*\)/.exec(probe)
  return m ? `var ${m[1]}=(f)=>f;` : ''
}

/**
 * A function's source, declared under its exported name too: the parts call each other by those names, and a
 * bundler that puts them in one scope with the rest of the worker renames a declaration that clashes with another
 * module's (`pct` → `pct2`), while calls within its own part follow the new name.
 */
const declaration = (name: string, fn: { name: string }) => (fn.name === name ? String(fn) : `${String(fn)}\nvar ${name}=${fn.name};`)

/** JSON that is safe inside a `<script>` element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c')

export function clientScript(cfg: ClientConfig = clientConfig()): string {
  const { main, ...helpers } = client
  const fns = Object.entries(helpers).filter(([, fn]) => typeof fn === 'function')
  const body = [keepNamesShim(String(keepNamesProbe)), ...fns.map(([name, fn]) => declaration(name, fn)), `;(${String(main)})(${scriptJson(cfg)});`].join('\n')
  // `</script` inside the code (only possible in a string or regex) would end the element early; `<\/` means the same to JS.
  return `(()=>{'use strict';\n${body}\n})();\n`.replace(/<\/(script)/gi, '<\\/$1')
}
