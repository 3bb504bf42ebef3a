"""Telemetry: what the gateway tells about itself and its traffic.

``attribution`` (who a request's spend is for: end user and session), ``spend`` (spend
rollups and the one spend query of the console and ``/api/spend``) and ``audit`` (the
append-only trail of changes and logins)."""
