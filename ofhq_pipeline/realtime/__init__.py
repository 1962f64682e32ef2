"""The real-time path: signed OnlyFans API webhooks received, verified and landed durably.

`receiver` is the HTTP app (`POST /webhooks/ofapi`, `GET /healthz`), `signature` checks the HMAC,
`events` knows the event types and their own timestamps, `landing` is the SQL landing store the
sensor reads by cursor, and `telegram` sends alerts.
"""
