"""`reload-safe serve`: the HTTPS admission webhook (Flask under gunicorn).

Modules, each with one job: `settings` (what the command line decided), `tls` (a serving
certificate reloaded from disk), `sockets` (time limits for slow clients), `metrics`
(Prometheus across gunicorn workers), `readiness`, `reviews` (one admission request from body
to audit line), `app` (the Flask routes), `runtime` (what one worker process holds) and
`gunicorn_app` (production settings and hooks).
"""
