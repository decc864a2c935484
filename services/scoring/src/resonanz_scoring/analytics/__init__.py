"""Pure scoring metrics: no I/O, no Kafka, no database; typed, deterministic and fast.

One module per job (definitions and formulas in ``docs/scoring/metrics.md``):

* :mod:`.engagement` -- engagement per the network's definition, engagement rate;
* :mod:`.reach` -- estimated reach and impressions, author influence, the vectorised batch;
* :mod:`.cascade` -- reshare cascades: size, depth, structural virality, growth;
* :mod:`.leaders` -- PageRank and opinion-leader ranking;
* :mod:`.reputation` -- reputation index and net sentiment;
* :mod:`.alerts` -- EWMA spike detection for crisis alerts;
* :mod:`.content` -- draft advice and best times to post;
* :mod:`.windows` -- time buckets and windows.
"""
