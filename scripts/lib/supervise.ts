/**
 * @module
 * Keeps a child process running, so that one process of the local stack dying (a demo origin that threw, a wrangler
 * that crashed, a `kill -9`) never takes the others, or the launcher, down with it. `supervise` starts the child;
 * when it exits without having been asked to, the exit is logged with the child's name and exit code or signal, and
 * the child is started again after a short backoff that doubles while it keeps failing.
 *
 *   const origin = await supervise('canary', () => spawnSomething(), console.error)
 *   origin.current?.pid   // changes on each restart
 *   await origin.stop()   // stops it for good
 */
import type { ChildProcess } from 'node:child_process'

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** One run of a child: what `supervise` needs to watch and clean up after it. */
export interface Run {
  pid: number
  /** Settles once the process has exited. */
  exited: Promise<Exit>
  /** Ends the process and whatever it started; also called after an unexpected exit, to clean up. */
  stop(): Promise<void>
  /** The tail of its output, when that is captured rather than shown: logged with an unexpected exit. */
  output?(): string
}

export interface Supervised<R extends Run> {
  /** The current run; undefined while the child is being restarted. */
  readonly current: R | undefined
  /** Stops the child and its supervision. */
  stop(): Promise<void>
}

const FIRST_DELAY_MS = 500
const MAX_DELAY_MS = 10_000
/** A run that lasted this long was not a crash loop: the next restart is quick again. */
const STEADY_MS = 30_000
const OUTPUT_LINES = 20

export const exitOf = (child: ChildProcess): Promise<Exit> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))

export const describeExit = (exit: Exit) => (exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`)

const message = (err: unknown) => (err instanceof Error ? err.message : String(err))

/** Sends `signal` (SIGTERM, then SIGKILL after `graceMs` if it is still there) until `exited` settles. */
export async function terminate(signal: (name: NodeJS.Signals) => void, exited: Promise<unknown>, graceMs = 5_000): Promise<void> {
  const within = (ms: number) => Promise.race([exited, new Promise((resolve) => setTimeout(resolve, ms).unref())])
  signal('SIGTERM')
  await within(graceMs)
  // Whatever ignored SIGTERM (or was orphaned when its parent went first) goes now.
  signal('SIGKILL')
  await within(graceMs)
}

/** Starts a child with `start` and restarts it whenever it exits unasked; `start` rejecting at first is `supervise` rejecting. */
export async function supervise<R extends Run>(name: string, start: () => Promise<R>, log: (line: string) => void): Promise<Supervised<R>> {
  let run: R | undefined = await start()
  let began = Date.now()
  let stopping = false
  let wake = () => {}
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })

  // Never rejects: a failure in here is logged, since an unhandled rejection would end the launcher.
  const watching = (async () => {
    let delay = FIRST_DELAY_MS
    while (run) {
      const exit = await run.exited
      if (stopping) return
      const dead: R = run
      run = undefined
      // Wrangler's workerd can outlive it and keep the port; the next run needs it.
      await dead.stop().catch((err: unknown) => log(`${name}: cleaning up after pid ${dead.pid} failed: ${message(err)}`))
      if (Date.now() - began >= STEADY_MS) delay = FIRST_DELAY_MS
      const tail = dead.output?.().trimEnd().split('\n').slice(-OUTPUT_LINES).join('\n')
      log(`${name} (pid ${dead.pid}) exited unexpectedly (${describeExit(exit)}); restarting it in ${delay} ms${tail ? `. Its last output:\n${tail}` : ''}`)
      while (!run && !stopping) {
        await pause(delay)
        if (stopping) return
        delay = Math.min(delay * 2, MAX_DELAY_MS)
        try {
          run = await start()
        } catch (err) {
          log(`${name} did not start again (${message(err)}); next try in ${delay} ms`)
        }
      }
      if (stopping) return void (await run?.stop())
      began = Date.now()
      log(`${name} restarted (pid ${run!.pid})`)
    }
  })()

  return {
    get current() {
      return run
    },
    async stop() {
      stopping = true
      wake()
      await run?.stop()
      await watching
    },
  }
}
