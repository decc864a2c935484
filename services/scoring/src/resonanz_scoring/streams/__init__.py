"""The scoring service as a faust-streaming app: agents over ``mentions.raw`` and
``engagement.updates``, the observer protocol other parts plug into, and the extension list.

Start here: :func:`resonanz_scoring.streams.app.create_app` builds the faust app,
:class:`resonanz_scoring.streams.runtime.ScoringStreams` runs it inside the service's asyncio loop.
"""
