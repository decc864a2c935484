"""The embedded default: the whole Resonanz platform in one process.

An embedded Tansu broker (unless ``RESONANZ_KAFKA_BOOTSTRAP`` names a Kafka), SQLite files under
``RESONANZ_DATA_DIR`` (unless ``RESONANZ_DATABASE_URL`` is set), every installed network plugin
and the three services, each exactly as its own console script would run it.
"""
