/** Admin API credentials the test workers are configured with (see vitest.config.ts). */
export const ADMIN_TOKEN = 'test-admin-token-0123456789'
export const READ_TOKEN = 'test-read-token-0123456789'
export const ACCESS_AUD = 'sluice-test-audience'
