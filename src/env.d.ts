// Secrets and optional settings that `wrangler types` cannot see (they are not in wrangler.toml).
interface Env {
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
  /** "1" under `npm start`: metrics go to the isolate's memory (miniflare drops Analytics Engine writes). */
  SLUICE_LOCAL_METRICS?: string
}
