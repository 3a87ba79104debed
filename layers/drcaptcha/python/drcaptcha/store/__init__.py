"""The storage layer: one module per aggregate, each owning its tables' conditions and transactions.

- challenges.py: issued challenges, answered and redeemed once (with rate_limits.py's counter in the same write);
- glyphs.py: glyphs and their votes, acceptances and voters' track records (the labels consumer);
- sites.py: registered sites;
- ensembles.py: trained networks, ensembles and the active-ensemble pointer;
- admins.py, outbox.py: admin keys; the votes the stream refused;
- base.py: the one translation of a failed DynamoDB condition (ConditionFailed) and the one transaction
  connection.

Logic modules ask a store in domain terms (`record_pass`, `count_glyph_votes`, `move_pointer`) and get domain answers
(an outcome, a typed error); only the stores catch ConditionFailed. tests/unit/memory_stores.py holds in-memory
stores with the same methods, for fast tests of the logic.
"""
