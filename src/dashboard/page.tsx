/**
 * @module
 * The dashboard's HTML shell. It holds no rollout data (it is served without
 * authentication); the client script fills it from the admin API. The ids and
 * `data-testid`s here are what the client and the end-to-end tests address.
 */
import { raw } from 'hono/html'

const COMMAND_BUTTONS = [
  { name: 'start', label: 'Start…', title: 'Start a release: asks for its label' },
  { name: 'pause', label: 'Pause', title: 'Hold the weight; the controller stops acting' },
  { name: 'resume', label: 'Resume', title: 'Hand back to the controller; the bake restarts' },
  { name: 'approve', label: 'Approve', title: 'Pass the gate to the next step' },
  { name: 'promote', label: 'Promote…', title: '100 % to the canary now, skipping the remaining steps' },
  { name: 'complete', label: 'Complete…', title: 'The promoted canary becomes stable' },
] as const

export interface PageProps {
  nonce: string
  script: string
  css: string
}

export function Page({ nonce, script, css }: PageProps) {
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="robots" content="noindex, nofollow" />
          <title>Sluice</title>
          {/* An empty icon, so the browser does not ask the proxied application for /favicon.ico. */}
          <link rel="icon" href="data:," />
          <style nonce={nonce} dangerouslySetInnerHTML={{ __html: css }} />
        </head>
        <body>
          <header class="top">
            <span class="brand">Sluice</span>
            <span class="muted">progressive delivery</span>
            <span class="spacer" />
            <span id="refreshed" class="muted small num" />
            <span id="who" class="muted small" />
            <button id="forget" data-testid="forget" type="button" class="link" hidden>
              Forget token
            </button>
          </header>

          <div id="banner" class="msg" role="alert" hidden />

          <form id="token-form" data-testid="token-form" class="card token" hidden>
            <h2>Admin API token</h2>
            <p class="muted small">Kept in this tab's session storage until the tab closes or you forget it. Behind Cloudflare Access no token is needed.</p>
            <label for="token-input">Token</label>
            <input id="token-input" name="token" type="password" autocomplete="off" spellcheck={false} required />
            <p id="token-error" class="error" role="alert" hidden />
            <button type="submit" class="primary">
              Use token
            </button>
          </form>

          <main id="app" class="layout" hidden>
            <nav class="card" aria-labelledby="list-title">
              <h2 id="list-title">Rollouts</h2>
              <ul id="rollout-list" data-testid="rollout-list" />
              <p id="list-empty" class="muted" hidden>
                No rollouts yet. Create one with <code>PUT /__sluice/api/rollouts/:id</code> (see <code>/__sluice/api/openapi.json</code>).
              </p>
            </nav>

            <div class="stack">
              <div id="problem" data-testid="problem" class="msg" role="alert" hidden />
              <div id="notice" data-testid="notice" class="msg ok-msg" role="status" hidden />

              <section id="detail" class="stack" aria-labelledby="rollout-title" hidden>
                <div class="card">
                  <div class="title-row">
                    <h1 id="rollout-title" />
                    <span id="phase" data-testid="phase" class="badge big-badge" />
                  </div>
                  <dl class="facts">
                    <div>
                      <dt>Canary weight</dt>
                      <dd>
                        <span id="weight" data-testid="weight" class="big num" />
                        <span id="weight-bar" />
                      </dd>
                    </div>
                    <div>
                      <dt>Step</dt>
                      <dd id="step" data-testid="step" class="num" />
                    </div>
                    <div>
                      <dt>Time left in step</dt>
                      <dd id="time-left" data-testid="time-left" />
                    </div>
                    <div>
                      <dt>Release</dt>
                      <dd id="release" data-testid="release" />
                    </div>
                    <div>
                      <dt>Revision</dt>
                      <dd id="revision" />
                    </div>
                    <div>
                      <dt>Updated</dt>
                      <dd>
                        <time id="updated" />
                      </dd>
                    </div>
                    <div class="wide">
                      <dt>Schedule</dt>
                      <dd id="schedule" />
                    </div>
                    <div class="wide">
                      <dt>Last decision</dt>
                      <dd id="last-decision" />
                    </div>
                    <div class="wide">
                      <dt>Origins</dt>
                      <dd id="origins" />
                    </div>
                  </dl>
                </div>

                <div class="card" role="group" aria-labelledby="commands-title">
                  <h2 id="commands-title">Commands</h2>
                  <div class="commands">
                    {COMMAND_BUTTONS.map((b) => (
                      <button id={`cmd-${b.name}`} data-testid={`cmd-${b.name}`} type="button" title={b.title} disabled>
                        {b.label}
                      </button>
                    ))}
                    <span class="sep" />
                    <input id="weight-input" data-testid="weight-input" type="number" min="0" max="100" step="0.01" aria-label="Canary weight in percent" />
                    <button id="cmd-weight" data-testid="cmd-weight" type="button" title="Set the canary weight by hand; automation pauses" disabled>
                      Set weight…
                    </button>
                    <span class="sep" />
                    <button id="cmd-rollback" data-testid="cmd-rollback" type="button" class="danger" title="All traffic to stable" disabled>
                      Roll back…
                    </button>
                  </div>
                  <div class="reason-row">
                    <label for="reason" class="muted small">
                      Reason
                    </label>
                    <input id="reason" data-testid="reason" maxlength={500} placeholder="optional; kept in the history" autocomplete="off" />
                  </div>
                </div>

                <div class="card">
                  <div class="chart-head">
                    <h2>Weight, error rate and latency</h2>
                    <label class="small muted">
                      Last{' '}
                      <select id="range" data-testid="range">
                        <option value="60">hour</option>
                        <option value="360" selected>
                          6 hours
                        </option>
                        <option value="1440">day</option>
                        <option value="10080">week</option>
                      </select>
                    </label>
                  </div>
                  <div id="chart-box" />
                  <p id="chart-latest" class="latest num" />
                </div>

                <div id="diff-card" class="card" data-testid="diff-card" hidden>
                  <h2>Shadow traffic: canary against stable</h2>
                  <div id="diff" />
                </div>

                <div class="card">
                  <h2>History</h2>
                  <ol id="history" data-testid="history" />
                  <button id="history-more" type="button" hidden>
                    Show older
                  </button>
                </div>
              </section>
            </div>
          </main>

          <dialog id="dialog" data-testid="dialog" aria-labelledby="dialog-title" aria-describedby="dialog-text">
            <form id="dialog-form">
              <h2 id="dialog-title" />
              <p id="dialog-text" />
              <label id="dialog-field" hidden>
                Release label
                <input id="dialog-input" data-testid="dialog-input" maxlength={64} autocomplete="off" spellcheck={false} />
              </label>
              <p id="dialog-error" class="error" role="alert" />
              <div class="dialog-buttons">
                <button id="dialog-cancel" data-testid="dialog-cancel" type="button">
                  Cancel
                </button>
                <button id="dialog-confirm" data-testid="dialog-confirm" type="submit">
                  Confirm
                </button>
              </div>
            </form>
          </dialog>

          <noscript>
            <p class="msg">The dashboard needs JavaScript.</p>
          </noscript>
          <script nonce={nonce} dangerouslySetInnerHTML={{ __html: script }} />
        </body>
      </html>
    </>
  )
}
