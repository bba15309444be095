// Secrets and optional settings that `wrangler types` cannot see (they are not in the wrangler config files).
// EdgeEnv (wrangler.toml) and ControlEnv (wrangler.control.toml) are generated; these declarations add to them.

/** "1" under `npm start`: data points go to the control worker's memory (Miniflare drops Analytics Engine writes). */
interface LocalMetricsSetting {
  SLUICE_LOCAL_METRICS?: string
}

interface EdgeEnv extends LocalMetricsSetting {}

interface ControlEnv extends LocalMetricsSetting {
  /** Full-access admin token (wrangler secret put SLUICE_ADMIN_TOKEN). */
  SLUICE_ADMIN_TOKEN?: string
  /** More tokens: JSON list of { name, token, role: "read" | "write" }. */
  SLUICE_TOKENS?: string
  /** Cloudflare Access team domain, e.g. https://myteam.cloudflareaccess.com, and the application's AUD tag. */
  ACCESS_TEAM_DOMAIN?: string
  ACCESS_AUD?: string
  /** Analytics Engine SQL API: account id and a token with Account Analytics Read. */
  AE_ACCOUNT_ID?: string
  AE_API_TOKEN?: string
  /** Override of the SQL API URL (tests). */
  AE_SQL_ENDPOINT?: string
  /** An Analytics SQL binding (an `analytics` binding in wrangler config): metrics without an API token. */
  ANALYTICS_SQL?: import('./control/metrics/binding.ts').AnalyticsSqlBinding
}
