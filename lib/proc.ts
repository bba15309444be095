/**
 * @module
 * A process's entries in Linux's /proc, as the benchmarks and the soak read them: its `stat` line (name, parent,
 * CPU ticks) and its resident memory. Each throws if the process is gone; callers that scan /proc catch that.
 */
import { readFileSync, readdirSync } from 'node:fs'

/** `/proc/<pid>/stat`: the command name, and the fields after it (`rest[1]` is the parent, `rest[11..12]` CPU ticks). */
export function procStat(pid: number | string): { comm: string; rest: string[] } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its last closing one.
  const close = stat.lastIndexOf(')')
  return { comm: stat.slice(stat.indexOf('(') + 1, close), rest: stat.slice(close + 2).split(' ') }
}

/** Resident memory in MiB, from `/proc/<pid>/status`: all of it, and its anonymous (heaps) and file-backed parts. */
export function procMemory(pid: number | string): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const mib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024
  return { rss: mib('VmRSS'), anon: mib('RssAnon'), file: mib('RssFile') }
}

/** The processes whose parent is `parent` and whose command name passes `named`; none without /proc. */
export function childrenOf(parent: number, named: (comm: string) => boolean): number[] {
  const pids: number[] = []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return pids
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue
    try {
      const { comm, rest } = procStat(d)
      if (named(comm) && Number(rest[1]) === parent) pids.push(Number(d))
    } catch {
      // Gone between readdir and read.
    }
  }
  return pids
}
