/**
 * @module
 * Turns the client module into the page's script, without a build step: the
 * bundler has already compiled `client.ts` to JavaScript, so each exported
 * function's source text (`Function.prototype.toString`) is browser-ready.
 * The script is the helpers' declarations, then `main` called with the config.
 */
import * as client from './client.ts'
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

/** JSON that is safe inside a `<script>` element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c')

export function clientScript(cfg: ClientConfig = clientConfig()): string {
  const { main, ...helpers } = client
  const fns = Object.values(helpers).filter((v) => typeof v === 'function')
  const body = [keepNamesShim(String(keepNamesProbe)), ...fns.map(String), `;(${String(main)})(${scriptJson(cfg)});`].join('\n')
  // `</script` inside the code (only possible in a string or regex) would end the element early; `<\/` means the same to JS.
  return `(()=>{'use strict';\n${body}\n})();\n`.replace(/<\/(script)/gi, '<\\/$1')
}
