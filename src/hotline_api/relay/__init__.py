"""``hotline-api relay``: forwards a PBX's ARI and AMI events to the service without losing any.

It runs beside an Asterisk that cannot open the ARI WebSocket to the service itself (older than
20.15, 21.10, 22.5), or whose AMI events are wanted, or whose link to the service is not always up:

- ``ari.py`` and ``ami.py`` read the PBX (the ARI WebSocket ``/ari/events``, the AMI TCP port) and
  reconnect by themselves;
- ``spool.py`` writes every event to a SQLite file before anything else happens to it
  (``events.py``: the webhook ids, and how events are encoded for the service);
- ``forwarder.py`` posts the spooled events, in spool order, to ``POST …/webhooks/asterisk/{sb}/{ari|ami}``
  with Standard Webhooks signatures, in batches when there is a backlog, retrying with backoff;
- ``status.py`` reports the backlog (log lines, ``GET /status``, an optional JSON file);
- ``runner.py`` puts them together; ``config.py`` reads the TOML file and ``HOTLINE_RELAY_*``;
  ``sources.py`` holds what the PBX readers share (connection state, reconnect backoff).

See docs/relay.md.
"""
